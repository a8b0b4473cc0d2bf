"""`learnstream status`: one screen (or one JSON document) on the pipeline's health, for an operator, cron or an
alerting system. Exit 0 when healthy, 1 when not (each problem on a line of its own), 2 or 3 when the settings are
wrong or the broker cannot be reached. This module reads the figures; learnstream/status.py judges and renders them.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from cli.common import reports_errors, settings
from learnstream.errors import ConfigError, LearnstreamError, WarehouseError, WarehouseUnavailable
from learnstream.settings import Settings
from learnstream.status import (
    ConnectorHealth,
    ConnectorStatus,
    DeadLetterCounts,
    GroupLag,
    PipelineStatus,
    WarehouseFigures,
    WarehouseStatus,
)

#: Longest a read of one topic (the connector state, the dead letters) may take before the broker counts as down.
READ_TIMEOUT_S = 30.0
#: Longest status waits for the first unconsumed record of a lagging partition (its timestamp is the lag in time).
FIRST_RECORD_TIMEOUT_S = 10.0


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of the table.")
@click.option(
    "--watch",
    type=click.FloatRange(min=0.5),
    default=None,
    metavar="SECONDS",
    help="Read and redraw every SECONDS until Ctrl-C (exits with the last verdict).",
)
@reports_errors
def status(as_json: bool, watch: float | None) -> None:
    """The pipeline's health on one screen: consumer lag of the worker and the loader, each connector's cursor age
    and last poll, dead letters by reason, the warehouse's rows and freshness.

    Exit 0 when healthy, 1 when something passed a LEARNSTREAM_STATUS__* threshold, a connector's last poll failed
    or the warehouse cannot be read (each problem on a line at the end); 3 when the broker cannot be reached."""
    current = settings()
    if watch is None:
        text, healthy = report(current, as_json)
        click.echo(text)
        sys.exit(0 if healthy else 1)
    healthy = False
    try:
        while True:
            try:
                text, healthy = report(current, as_json)
            except LearnstreamError as exc:  # watching goes on through an outage: it shows, and ends, the next draw
                text, healthy = f"learnstream: error: {exc}", False
            click.clear()
            click.echo(text)
            time.sleep(watch)
    except KeyboardInterrupt:
        pass
    sys.exit(0 if healthy else 1)


def report(current: Settings, as_json: bool) -> tuple[str, bool]:
    """The rendered status and whether the pipeline is healthy."""
    from learnstream.status import problems, render_table, status_document

    found = gather(current)
    if as_json:
        document = status_document(found, current.status)
        return json.dumps(document, indent=2), bool(document["healthy"])
    return render_table(found, current.status), not problems(found, current.status)


def gather(current: Settings) -> PipelineStatus:
    """Read every figure: Kafka first (an unreachable broker ends the command), then the warehouse (an unreachable
    warehouse is a problem of the status, not an error)."""
    names = current.topics.names
    notes: list[str] = []
    with status_clients(current, "status") as (admin, reader):
        lag = pipeline_lags(current, admin, reader, notes)
        saved_on_topic, health = read_connector_state(reader, names.connector_state, notes)
        dead_letters = read_dead_letters(reader, names.activity_dlq, notes)
    saved = saved_on_topic if current.cursor_store == "kafka" else file_cursor_times(current.data_dir / "cursors")
    connectors = known_connectors(current, saved, health, notes)
    warehouse = read_warehouse(current)
    return PipelineStatus(time.time(), lag, connectors, dead_letters, warehouse, tuple(notes))


@contextmanager
def status_clients(current: Settings, client_suffix: str) -> Iterator[tuple[Any, Any]]:
    """An admin client and a reader (no group), closed afterwards; a Kafka failure while they are used is one
    error naming what to fix."""
    from learnstream.kafka import client_id_of, connecting, make_admin, make_reader

    admin = make_admin(current.kafka)
    try:
        reader = make_reader(current.kafka, client_suffix)
        try:
            with connecting(current.kafka, client_id_of(admin), client_id_of(reader)):
                yield admin, reader
        finally:
            reader.close()
    finally:
        admin.close()


def pipeline_lags(current: Settings, admin: Any, reader: Any, notes: list[str]) -> tuple[GroupLag, GroupLag]:
    """The lag of the worker's group on the raw topic and of the loader's on the learning events."""
    names = current.topics.names
    return (
        group_lag(admin, reader, "worker", current.worker.app_id, names.activity_raw, notes),
        group_lag(admin, reader, "loader", current.loader.group_id, names.learning_events, notes),
    )


def group_lag(admin: Any, reader: Any, role: str, group: str, topic: str, notes: list[str]) -> GroupLag:
    """A group's committed offsets against the topic's end offsets, and the wait of each first unconsumed record."""
    from kafka import TopicPartition

    from learnstream.consumer_lag import first_unconsumed
    from learnstream.status import group_lags

    partitions = [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or ())]
    if not partitions:
        notes.append(f"topic {topic} does not exist: run `learnstream topics create`")
        return GroupLag(role, group, topic, ())
    offsets = admin.list_group_offsets({group: None}).get(group, {})
    committed = {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset >= 0}
    beginnings = {tp.partition: offset for tp, offset in reader.beginning_offsets(partitions).items()}
    ends = {tp.partition: offset for tp, offset in reader.end_offsets(partitions).items()}
    lagging = {
        tp: start
        for tp in partitions
        if ends[tp.partition] > (start := first_unconsumed(committed.get(tp.partition), beginnings[tp.partition]))
    }
    waited = first_record_times(reader, lagging)
    return GroupLag(role, group, topic, group_lags(committed, beginnings, ends, waited, time.time()))


def first_record_times(reader: Any, offsets: dict[Any, int]) -> dict[int, float]:
    """The Kafka timestamp (epoch seconds) of the record at (or first after) each offset, by partition; a partition
    whose record does not arrive within FIRST_RECORD_TIMEOUT_S is left out (its wait shows as 0)."""
    if not offsets:
        return {}
    reader.assign(list(offsets))
    for tp, offset in offsets.items():
        reader.seek(tp, offset)
    found: dict[int, float] = {}
    deadline = time.monotonic() + FIRST_RECORD_TIMEOUT_S
    while len(found) < len(offsets) and time.monotonic() < deadline:
        for tp, records in reader.poll(timeout_ms=200).items():
            if records and tp.partition not in found:
                found[tp.partition] = records[0].timestamp / 1000
                reader.pause(tp)
    return found


def read_topic(reader: Any, topic: str, notes: list[str]) -> Iterator[Any]:
    """Every record of a topic, from its beginning to the end offsets it had when the read began."""
    from kafka import TopicPartition

    from learnstream.errors import BrokerUnavailable

    partitions = [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or ())]
    if not partitions:
        notes.append(f"topic {topic} does not exist: run `learnstream topics create`")
        return
    reader.assign(partitions)
    reader.seek_to_beginning(*partitions)
    ends = reader.end_offsets(partitions)
    deadline = time.monotonic() + READ_TIMEOUT_S
    while any(reader.position(tp) < end for tp, end in ends.items()):
        if time.monotonic() > deadline:
            raise BrokerUnavailable(f"reading {topic} took longer than {READ_TIMEOUT_S:.0f} s")
        for records in reader.poll(timeout_ms=200).values():
            yield from records


def read_connector_state(
    reader: Any, topic: str, notes: list[str]
) -> tuple[dict[str, float], dict[str, ConnectorHealth]]:
    """When each connector last saved its cursor on the topic (its latest record's timestamp), and the latest
    health record of each; a tombstone forgets either."""
    from learnstream.status import health_name, parse_health

    saved: dict[str, float] = {}
    health: dict[str, ConnectorHealth] = {}
    for record in read_topic(reader, topic, notes):
        if record.key is None:
            continue
        name = health_name(record.key)
        if name is None:
            cursor_name = record.key.decode("utf-8", errors="replace")
            if record.value is None:
                saved.pop(cursor_name, None)
            else:
                saved[cursor_name] = record.timestamp / 1000
        elif record.value is None:
            health.pop(name, None)
        else:
            try:
                health[name] = parse_health(record.value)
            except ValueError:
                notes.append(f"connector {name}: its health record on {topic} is unreadable")
    return saved, health


def read_dead_letters(reader: Any, topic: str, notes: list[str]) -> DeadLetterCounts:
    """The dead letters the topic holds, by reason, and the time of the newest."""
    from learnstream.metrics import dead_letter_reason

    by_reason: Counter[str] = Counter()
    newest: float | None = None
    for record in read_topic(reader, topic, notes):
        by_reason[dead_letter_reason(record.value or b"")] += 1
        written = record.timestamp / 1000
        newest = written if newest is None else max(newest, written)
    return DeadLetterCounts(topic, dict(by_reason), newest)


def file_cursor_times(directory: Path) -> dict[str, float]:
    """When each connector last saved its cursor file (`LEARNSTREAM_CURSOR_STORE=file`)."""
    if not directory.is_dir():
        return {}
    return {path.stem: path.stat().st_mtime for path in directory.glob("*.json")}


def known_connectors(
    current: Settings, saved: dict[str, float], health: dict[str, ConnectorHealth], notes: list[str]
) -> tuple[ConnectorStatus, ...]:
    """Every connector the connector file names (its pull instances) or the state has a cursor or health record of.
    One follows its source when the file gives it a poll interval, or when it reported health (only `follow` does):
    only those have a cursor age to judge, a one-shot import's cursor ages for good."""
    from producers.connector_config import load_connector_file
    from producers.registry import is_pull, poll_interval_s

    follows: dict[str, bool] = {}
    if current.connectors_file.exists():
        try:
            for config in load_connector_file(current.connectors_file).connectors:
                if is_pull(config):
                    follows[config.name] = poll_interval_s(config) is not None
        except ConfigError as exc:
            notes.append(f"connector file: {exc}")
    names = sorted(set(follows) | set(saved) | set(health))
    return tuple(
        ConnectorStatus(name, follows.get(name, name in health), saved.get(name), health.get(name)) for name in names
    )


def read_warehouse(current: Settings) -> WarehouseStatus:
    """The warehouse's figures: from the serve that owns the embedded engine, else from the engine or server here
    (an embedded engine is closed again at once, so a loader or serve can open it)."""
    from learnstream.status import warehouse_figures
    from warehouse.connection import connect
    from warehouse.dsn import parse_dsn
    from warehouse.service import served_url

    target = parse_dsn(current.warehouse_dsn)
    url = served_url(target)
    try:
        if url is not None:
            return WarehouseStatus("serve", served_figures(current, url))
        client = connect(target)
        try:
            return WarehouseStatus("direct", warehouse_figures(client, target.database))
        finally:
            client.close()
    except LearnstreamError as exc:
        return WarehouseStatus("serve" if url else "direct", error=str(exc))


def served_figures(current: Settings, url: str) -> WarehouseFigures:
    """Ask serve's `/warehouse/events` (with the admin token, if one is set)."""
    request = urllib.request.Request(f"{url}/warehouse/events")
    if current.serve.admin_token is not None:
        request.add_header("Authorization", f"Bearer {current.serve.admin_token.get_secret_value()}")
    try:
        with urllib.request.urlopen(request, timeout=READ_TIMEOUT_S) as response:
            return WarehouseFigures.from_dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        hint = "; restart serve if it predates `learnstream status`" if exc.code == 404 else ""
        raise WarehouseError(f"the serve that owns the warehouse ({url}) answered {exc.code}{hint}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise WarehouseUnavailable(f"the serve that owns the warehouse ({url}) does not answer: {exc}") from None
    except ValueError as exc:
        raise WarehouseError(f"the serve that owns the warehouse ({url}) answered no figures: {exc}") from None
