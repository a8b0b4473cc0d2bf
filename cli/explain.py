"""`learnstream explain`: the classifier's decision for activities given as JSON, and why."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from cli.common import reports_errors, settings
from learnstream.errors import ConfigError


@click.command()
@click.argument("source", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True), default="-")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per activity instead of text.")
@reports_errors
def explain(source: Path, as_json: bool) -> None:
    """Decide each activity in SOURCE (an Activity as JSON, or one per line; `-` reads standard input) in order,
    remembering question threads as the worker does, and print the category, the rule and why, the confidence,
    the counterpart and response delay, the subjects and the classifier version."""
    from pydantic import ValidationError

    from schemas.activity import Activity
    from streams.classify import load_classifier
    from streams.classify.rules import RULE_TEXT
    from streams.processing import describe_validation_error, learning_event_for
    from streams.threads import ThreadMemory

    text = sys.stdin.read() if str(source) == "-" else read_text(source)
    lines = [line for line in text.splitlines() if line.strip()] if "\n" in text.strip() else [text]
    classifier = load_classifier(settings().classifier.vocabulary_files)
    memory = ThreadMemory(idle_s=365 * 86_400, max_entries=100_000)
    for number, line in enumerate(lines, start=1):
        try:
            activity = Activity.model_validate_json(line)
        except ValidationError as exc:
            raise ConfigError(f"activity {number} is not a valid Activity: {describe_validation_error(exc)}") from None
        thread = memory.context_for(activity.conversation_key, activity.occurred_at)
        event = learning_event_for(activity, classifier, thread)
        memory.remember(event)
        answer: dict[str, Any] = {
            "activity_id": activity.activity_id,
            "event_id": event.event_id,
            "kind": activity.kind.value,
            "category": event.category.value,
            "rule": event.decided_by,
            "why": RULE_TEXT.get(event.decided_by, ""),
            "confidence": event.confidence,
            "counterpart": event.counterpart,
            "response_delay_seconds": event.response_delay_seconds,
            "subjects": list(event.topics),
            "thread": thread_line(activity.kind.value, thread.root_category.value),
            "classifier_version": classifier.version,
        }
        click.echo(json.dumps(answer) if as_json else describe(answer))


def thread_line(kind: str, root_category: str) -> str:
    """What the decision knew of the activity's conversation."""
    if kind == "message":
        return "starts its conversation"
    return "its root asked" if root_category == "asked" else "no question remembered in it"


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


def describe(answer: dict[str, Any]) -> str:
    """The decision as a few aligned lines."""
    lines = [
        f"activity {answer['activity_id']} ({answer['kind']})",
        f"  category    {answer['category']} (confidence {answer['confidence']:.2f})",
        f"  rule        {answer['rule']}: {answer['why']}",
        f"  thread      {answer['thread']}",
    ]
    if answer["event_id"] != answer["activity_id"]:
        lines.append(f"  replaces    the event {answer['event_id']} of the item it changes")
    if answer["counterpart"]:
        delay = answer["response_delay_seconds"]
        after = f", {delay:.0f} s after the question" if delay is not None else ""
        lines.append(f"  counterpart {answer['counterpart']}{after}")
    lines.append(f"  subjects    {', '.join(answer['subjects']) or '-'}")
    lines.append(f"  classifier  {answer['classifier_version']}")
    return "\n".join(lines)
