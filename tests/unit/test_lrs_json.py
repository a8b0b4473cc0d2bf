"""Statement bodies read as JSON with every object's keys once (lrs/drafting.py strict_json): orjson where it is
certainly right, the checking parser everywhere else, the same documents and refusals either way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lrs import drafting
from lrs.drafting import StatementRejected, strict_json

DATASIM = Path(__file__).resolve().parents[3] / "shared" / "data" / "xapi" / "datasim-tccc-statements.json"


def test_a_recorded_batch_is_read_by_orjson_and_equals_the_standard_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    body = DATASIM.read_bytes()
    expected = json.loads(body)
    monkeypatch.setattr(drafting, "_checked_json", lambda _body: pytest.fail("the fast path was not taken"))
    assert strict_json(body) == expected


SAME_AS_JSON = [
    b'{"a": "a string holding \\": and \\"b\\":", "b": 1}',  # `":` in a string: the checking parser reads it
    b'{"a" : 1, "b"\n:\t2}',  # spaced colons
    b'{"n": 123456789012345678901234567890, "m": -98765432109876543210}',  # integers beyond 64 bits, exactly
    b'{"x": NaN, "y": Infinity}',  # what the standard parser reads and orjson does not
    b'{"s": "\\ud800"}',  # a lone surrogate
    b'[{"": 1}, {"": 2}, {"a": {"": []}}]',
    b'"just a string"',
    b"12",
    b"[]",
    b'{"a": [{"b": {"c": [1, 2, {"d": null}]}}], "e": 1.5e300, "f": -0.0}',
    '{"name": "Zoë 日本語 🙂"}'.encode(),
]


@pytest.mark.parametrize("body", SAME_AS_JSON)
def test_documents_are_what_the_standard_parser_reads(body: bytes) -> None:
    read, expected = strict_json(body), json.loads(body)
    assert json.dumps(read) == json.dumps(expected)  # NaN compares unequal to itself: compare the writing


DUPLICATES = [
    (b'{"a": 1, "a": 2}', "a"),
    (b'[{"actor": {"mbox": "mailto:a@b.c", "mbox": "mailto:d@e.f"}}]', "mbox"),
    (b'{"a" : 1, "a": 2}', "a"),
    (b'{"t": "x\\":", "t": 1}', "t"),
    (b'{"": 1, "": 2}', ""),
    (b'{"n": 123456789012345678901234567890, "n": 1}', "n"),
]


@pytest.mark.parametrize(("body", "key"), DUPLICATES)
def test_a_key_twice_is_refused_naming_it(body: bytes, key: str) -> None:
    with pytest.raises(StatementRejected) as refused:
        strict_json(body)
    assert refused.value.status == 400 and f"the JSON has the key {key!r} twice" in str(refused.value)


@pytest.mark.parametrize("body", [b"", b"{", b'{"a": 1,}', b"\xff\xfe", b"[1 2]"])
def test_what_is_not_json_is_refused(body: bytes) -> None:
    with pytest.raises(StatementRejected) as refused:
        strict_json(body)
    assert refused.value.status == 400 and "not JSON" in str(refused.value)


def test_every_key_of_a_document_is_counted() -> None:
    document: Any = {"a": [{"b": 1, "c": {"d": []}}, [{"e": 1}]], "f": "g"}
    assert drafting._keys_in(document) == 6
    assert drafting._keys_in("text") == drafting._keys_in(3) == drafting._keys_in([]) == 0
