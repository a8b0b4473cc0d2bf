"""Evaluation: items become activities decided in order, scores per category, the baseline, and the commands
`learnstream eval` and `learnstream explain`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from schemas.taxonomy import LearningCategory
from streams.classify import default_classifier
from streams.classify.evaluation import (
    ItemError,
    Scores,
    baseline_decisions,
    classifier_decisions,
    evaluate,
    labelled_activities,
)

ASKED, ANSWERED, ACKNOWLEDGED, NONE = (
    LearningCategory.ASKED,
    LearningCategory.ANSWERED,
    LearningCategory.ACKNOWLEDGED,
    LearningCategory.NONE,
)
THREAD = {
    "id": "t1",
    "source": "written for this test",
    "licence": "CC0",
    "kind": "chat",
    "messages": [
        {"author": "ana", "text": "any ideas why the staging deploy hangs", "label": "asked"},
        {"author": "ben", "text": "the migration job waits for a lock, kill it", "label": "answered"},
        {"author": "ana", "text": "is that safe?", "label": "asked"},
        {"author": "ana", "text": "that worked, thanks", "label": "acknowledged"},
    ],
}
WIKI = {
    "id": "w1",
    "source": "written for this test",
    "licence": "CC0",
    "kind": "wiki",
    "title": "Deploying",
    "edits": [
        {"author": "cy", "comment": "new page", "label": "documented", "new_page": True},
        {"author": "cy", "comment": "Reverted edits by dan", "label": "none"},
    ],
}


def test_a_thread_is_decided_in_order_with_its_root_remembered():
    decided = classifier_decisions(default_classifier())(labelled_activities(THREAD))
    assert decided == [ASKED, ANSWERED, ASKED, ACKNOWLEDGED]


def test_the_baseline_asks_by_question_mark_or_first_word_and_counts_every_reply_to_a_question_as_an_answer():
    assert baseline_decisions(labelled_activities(THREAD)) == [NONE, NONE, ASKED, NONE]
    marked = {
        **THREAD,
        "messages": [{**THREAD["messages"][0], "text": "why does the deploy hang?"}, *THREAD["messages"][1:]],
    }
    assert baseline_decisions(labelled_activities(marked)) == [ASKED, ANSWERED, ANSWERED, ANSWERED]


def test_scores_per_category():
    scores = Scores([(ASKED, ASKED), (ASKED, NONE), (NONE, ASKED), (NONE, NONE), (ANSWERED, ANSWERED)])
    precision, recall, f1, support = scores.per_class(ASKED)
    assert (precision, recall, f1, support) == (0.5, 0.5, 0.5, 2)
    assert scores.per_class(LearningCategory.TAUGHT) == (0.0, 0.0, 0.0, 0)
    assert scores.accuracy() == 0.6
    assert scores.confusion()[(ASKED, NONE)] == 1


def test_evaluate_scores_every_labelled_activity():
    scores = evaluate([THREAD, WIKI], classifier_decisions(default_classifier()))
    assert len(scores.pairs) == 6
    assert scores.accuracy() == 1.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "email"}, "kind must be chat or wiki"),
        ({"messages": []}, "messages must be a non-empty list"),
        ({"messages": [{"author": "ana", "text": "hi", "label": "curious"}]}, "label must be one of"),
        ({"messages": [{"text": "hi", "label": "none"}]}, "author must be a non-empty string"),
    ],
)
def test_an_item_not_in_the_format_is_refused_naming_the_field(change, message):
    with pytest.raises(ItemError, match=message):
        labelled_activities({**THREAD, **change})


def test_eval_prints_the_table_the_headline_figures_and_the_confusion_matrix(tmp_path: Path):
    labels = tmp_path / "labels.jsonl"
    labels.write_text(json.dumps(THREAD) + "\n\n" + json.dumps(WIKI) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["eval", str(labels)])
    assert result.exit_code == 0, result.output
    assert "on 6 labelled activities in 2 items" in result.output
    assert "asked F1 1.000 vs baseline 0.667 (+0.333)" in result.output
    assert "answered F1 1.000 vs baseline 0.000 (+1.000)" in result.output
    assert "confusion (rows: label, columns: decided)" in result.output


def test_eval_names_the_bad_line(tmp_path: Path):
    labels = tmp_path / "labels.jsonl"
    labels.write_text(json.dumps(THREAD) + "\n{not json\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["eval", str(labels)])
    assert result.exit_code != 0
    assert f"{labels}:2: not JSON" in result.output


def test_explain_gives_the_rule_and_why_for_each_activity_in_order(tmp_path: Path):
    activities = [entry.activity for entry in labelled_activities(THREAD)]
    path = tmp_path / "thread.jsonl"
    path.write_bytes(b"\n".join(activity.to_bytes() for activity in activities) + b"\n")
    result = CliRunner().invoke(cli, ["explain", "--json", str(path)])
    assert result.exit_code == 0, result.output
    answers = [json.loads(line) for line in result.output.splitlines()]
    assert [a["category"] for a in answers] == ["asked", "answered", "asked", "acknowledged"]
    assert answers[1]["rule"] == "chat.reply_to_question" and "someone other than the asker" in answers[1]["why"]
    assert answers[1]["counterpart"] == activities[0].actor and answers[1]["response_delay_seconds"] == 60.0
    assert answers[3]["counterpart"] == activities[1].actor
    assert {a["classifier_version"] for a in answers} == {default_classifier().version}
    text = CliRunner().invoke(cli, ["explain", str(path)]).output
    assert "rule        chat.question.help_request: a request for help" in text
