"""GET /statements' formats: ids keeps what identifies, canonical keeps one language per map (Accept-Language)."""

from __future__ import annotations

from typing import Any

import pytest

from lrs.formats import accepted_languages, in_format, one_language

STATEMENT: dict[str, Any] = {
    "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee",
    "actor": {"objectType": "Agent", "name": "Ann", "mbox": "mailto:ann@example.com"},
    "verb": {
        "id": "http://adlnet.gov/expapi/verbs/answered",
        "display": {"en-US": "answered", "de-DE": "beantwortete"},
    },
    "object": {
        "id": "http://example.com/quiz/1",
        "definition": {
            "name": {"en-US": "Quiz", "de-DE": "Quiz", "fr": "Questionnaire"},
            "interactionType": "choice",
            "choices": [{"id": "a", "description": {"en-US": "Yes", "de-DE": "Ja"}}],
        },
    },
    "context": {
        "contextActivities": {
            "parent": [{"id": "http://example.com/c", "definition": {"name": {"en": "C", "de": "K"}}}]
        }
    },
}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", []),
        ("de-DE", ["de-de"]),
        ("en-US,en;q=0.8,de;q=0.9", ["en-us", "de", "en"]),
        ("fr;q=0, de", ["de"]),
        ("*;q=0.1, en", ["en", "*"]),
    ],
)
def test_accept_language_ranks_the_ranges(header: str, expected: list[str]) -> None:
    assert accepted_languages(header) == expected


@pytest.mark.parametrize(
    ("wanted", "chosen"),
    [
        (["de-de"], {"de-DE": "beantwortete"}),
        (["de"], {"de-DE": "beantwortete"}),  # a range matches the tags it prefixes
        (["fr", "en"], {"en-US": "answered"}),
        (["*"], {"en-US": "answered"}),
        ([], {"en-US": "answered"}),  # nothing asked: still exactly one language
        (["ja"], {"en-US": "answered"}),
    ],
)
def test_one_language_per_map(wanted: list[str], chosen: dict[str, str]) -> None:
    assert one_language(STATEMENT["verb"]["display"], wanted) == chosen


def test_canonical_filters_every_map_of_the_verb_and_the_activities() -> None:
    shown = in_format(STATEMENT, "canonical", "de")
    assert shown["verb"]["display"] == {"de-DE": "beantwortete"}
    assert shown["object"]["definition"]["name"] == {"de-DE": "Quiz"}
    assert shown["object"]["definition"]["choices"][0]["description"] == {"de-DE": "Ja"}
    assert shown["context"]["contextActivities"]["parent"][0]["definition"]["name"] == {"de": "K"}
    assert shown["actor"] == STATEMENT["actor"]  # agents as in exact
    assert STATEMENT["verb"]["display"]["en-US"] == "answered"  # the stored Statement is left as it was


def test_ids_keeps_what_identifies() -> None:
    shown = in_format(STATEMENT, "ids")
    assert shown["actor"] == {"objectType": "Agent", "mbox": "mailto:ann@example.com"}
    assert shown["verb"] == {"id": STATEMENT["verb"]["id"]}
    assert shown["object"] == {"id": "http://example.com/quiz/1"}


def test_exact_is_as_stored() -> None:
    assert in_format(STATEMENT, "exact", "de") is STATEMENT
