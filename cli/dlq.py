"""`learnstream dlq list | show ID | replay`: the dead letters an operator inspects, and replays after a fix.

The decisions are in learnstream/dead_letters.py, the Kafka reading and writing in learnstream/dead_letter_topic.py.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click

from cli.common import reports_errors, settings
from learnstream.dead_letters import (
    LetterFilter,
    Replayed,
    describe_filter,
    left_out_lines,
    letter_document,
    letter_table,
    newest_by_root,
    origin_of,
    original_preview,
    plan_replay,
    replay_state,
    summary_line,
)
from learnstream.settings import Settings
from schemas.dead_letter import DeadLetterReason, LetterId

F = TypeVar("F", bound=Callable[..., Any])
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, now: datetime) -> datetime:
    """`2026-11-30`, `2026-11-30T08:00:00` (UTC unless it names a zone), or an age: `90m`, `6h`, `7d`."""
    match = _DURATION.match(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: give a time (2026-11-30, 2026-11-30T08:00:00) or an age (90m, 6h, 7d)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def letter_id(_context: click.Context, _param: click.Parameter, value: str) -> LetterId:
    """The ID argument as a LetterId (a click callback)."""
    try:
        return LetterId.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


REASONS = click.Choice([reason.value for reason in DeadLetterReason])
STAGES = click.Choice(["connector", "worker", "loader"])


def filter_options(command: F) -> F:
    """--reason, --stage and --since, shared by list and replay."""
    for option in reversed(
        [
            click.option("--reason", "reasons", type=REASONS, multiple=True, help="Only this reason (repeatable)."),
            click.option("--stage", "stages", type=STAGES, multiple=True, help="Only this stage (repeatable)."),
            click.option(
                "--since",
                default=None,
                help="Only dead letters written at or after this time (UTC unless it names a zone) or within this "
                "age: 2026-11-30, 2026-11-30T08:00:00, 90m, 6h, 7d.",
            ),
        ]
    ):
        command = option(command)
    return command


@click.group()
def dlq() -> None:
    """The dead-letter topic: what was set aside and why, and replaying it after a fix."""


@dlq.command("list")
@filter_options
@click.option("--limit", type=click.IntRange(0), default=20, show_default=True, help="Show the newest N (0: all).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines, one dead letter each, instead of the table.")
@reports_errors
def dlq_list(reasons: tuple[str, ...], stages: tuple[str, ...], since: str | None, limit: int, as_json: bool) -> None:
    """Count the dead letters by reason and list the newest: id (`partition:offset`, for `show`), when, stage,
    reason, whether it was replayed, where the message was read, and what was wrong. No message content."""
    from learnstream.dead_letter_topic import read_letters

    current = settings()
    wanted = letter_filter(reasons, stages, since)
    letters, unreadable = read_letters(current, wanted.since)
    ledger = ledger_or_empty(current)
    matching = [stored for stored in letters if wanted.matches(stored)]
    newest_first = sorted(matching, key=lambda s: (s.written_at, s.id.partition, s.id.offset), reverse=True)
    shown = list(reversed(newest_first[:limit] if limit else newest_first))
    newest = newest_by_root(letters)  # a message's state is its newest letter's
    rows = [(stored, replay_state(newest[stored.root], ledger), ledger.get(stored.root)) for stored in shown]
    if as_json:
        for stored, state, entry in rows:
            click.echo(json.dumps(letter_document(stored, state, entry), ensure_ascii=False))
        return
    topic = current.topics.names.activity_dlq
    click.echo(summary_line(topic, matching) + describe_filter(wanted))
    if unreadable:
        click.echo(f"{unreadable:,} records of {topic} are not dead letters this version can read (see the log)")
    if len(rows) < len(matching):
        click.echo(f"the newest {len(rows):,} (--limit 0 lists all):")
    if rows:
        for line in letter_table(rows):
            click.echo(line)


@dlq.command("show")
@click.argument("letter", metavar="ID", callback=letter_id)
@click.option("--json", "as_json", is_flag=True, help="One JSON document, with the original bytes in base64.")
@click.option("--original", is_flag=True, help="Only the message's original bytes, exactly, on stdout.")
@reports_errors
def dlq_show(letter: LetterId, as_json: bool, original: bool) -> None:
    """One dead letter in full: why, where from, its replay history, and the original message (this may show
    message text: the dead-letter topic holds it, and its ACL is the raw topic's)."""
    from learnstream.dead_letter_topic import read_letter

    current = settings()
    stored = read_letter(current, letter)
    if original:
        sys.stdout.buffer.write(stored.letter.original)
        sys.stdout.buffer.flush()
        return
    ledger = ledger_or_empty(current)
    entry = ledger.get(stored.root)
    # its state as far as this letter knows: a later dead letter of the same message is found by `dlq list`
    state = replay_state(stored, ledger)
    if as_json:
        click.echo(json.dumps(letter_document(stored, state, entry, with_original=True), ensure_ascii=False, indent=2))
        return
    dead = stored.letter
    lines = [
        f"dead letter {stored.id} of {current.topics.names.activity_dlq}",
        f"  written     {stored.written_at.isoformat()}",
        f"  failed at   {dead.failed_at.isoformat()}",
        f"  stage       {dead.stage}",
        f"  reason      {dead.reason.value}",
        f"  detail      {dead.detail}",
        f"  source      {dead.source_system.value if dead.source_system else 'unknown'}",
        f"  origin      {origin_of(dead)}",
        f"  key         {dead.key.decode('utf-8', 'replace') if dead.key is not None else '(none)'}",
    ]
    if dead.replay_of is not None:
        lines.append(f"  replay of   {dead.replay_of} (set aside again when replayed)")
    if entry is not None:
        lines.append(f"  replayed    {entry.replayed_at.isoformat()} (dead letter {entry.letter} to {entry.topic})")
    lines.append(f"  replay      {state.value}")
    encoding, text = original_preview(dead.original)
    lines.append(f"  original    {len(dead.original):,} bytes ({encoding}; --original writes them exactly)")
    click.echo("\n".join(lines))
    click.echo(text)


@dlq.command("replay")
@filter_options
@click.option("--again", is_flag=True, help="Also send messages replayed already and not set aside since.")
@click.option("--dry-run", is_flag=True, help="Say what would be sent, send nothing.")
@reports_errors
def dlq_replay(
    reasons: tuple[str, ...], stages: tuple[str, ...], since: str | None, again: bool, dry_run: bool
) -> None:
    """Send dead letters' messages back to the topic they were read from, after a fix: the worker's to the raw
    topic, the loader's to the learning-event topic. Each message once (its newest dead letter), recorded in the
    ledger so a second run sends nothing; one that fails again comes back as a dead letter naming the first, so a
    replay never loops. A connector's dead letters hold the source's own records: backfill the source instead."""
    from learnstream.dead_letter_topic import read_ledger, read_letters, send_replay
    from learnstream.kafka import check_broker
    from learnstream.progress import Progress, progress_enabled

    current = settings()
    check_broker(current.kafka)
    wanted = letter_filter(reasons, stages, since)
    topics = current.topics.names
    ledger = read_ledger(current)
    shown = progress_enabled(current.progress)
    with Progress("reading dead letters", unit="letters", enabled=shown) as reading:
        letters, unreadable = read_letters(current, wanted.since, reading)
    plan = plan_replay(letters, ledger, topics, wanted, again)
    click.echo(f"read {len(letters):,} dead letters of {topics.activity_dlq}{describe_filter(wanted)}")
    if unreadable:
        click.echo(f"{unreadable:,} records are not dead letters this version can read: left out (see the log)")
    for line in left_out_lines(plan, again):
        click.echo(line)
    targets = ", ".join(f"{count:,} to {topic}" for topic, count in sorted(plan.by_topic().items()))
    if not plan.records:
        click.echo("nothing to replay")
        return
    if dry_run:
        click.echo(f"would replay {len(plan.records):,} messages: {targets}")
        for record in plan.records:
            root = "" if record.root == record.letter else f" (first set aside as {record.root})"
            click.echo(f"  {record.letter}{root} -> {record.topic}")
        return
    with Progress("replaying", total=len(plan.records), unit="messages", enabled=shown) as sending:
        sent = send_replay(current, plan, sending.advance)
    click.echo(f"replayed {sent:,} messages: {targets}")
    click.echo(
        "each lands once (the warehouse keeps an event by its id); a message still invalid comes back as a new dead "
        "letter naming the first (`learnstream dlq list`)"
    )


def letter_filter(reasons: tuple[str, ...], stages: tuple[str, ...], since: str | None) -> LetterFilter:
    """The LetterFilter of the command's options."""
    return LetterFilter(
        reasons=frozenset(DeadLetterReason(reason) for reason in reasons),
        stages=frozenset(stages),
        since=parse_since(since, datetime.now(UTC)) if since else None,
    )


def ledger_or_empty(current: Settings) -> dict[LetterId, Replayed]:
    """The replay ledger for listing; a deployment whose topics predate it lists its letters as never replayed."""
    from learnstream.dead_letter_topic import read_ledger
    from learnstream.errors import ConnectorError

    try:
        return read_ledger(current)
    except ConnectorError as exc:
        click.echo(f"note: {exc}", err=True)
        return {}
