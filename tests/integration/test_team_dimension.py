"""The people/teams dimension on the real broker and engine: the directory topic loaded into team_memberships,
and each event joined to the team its actor was in when they acted."""

from __future__ import annotations

from datetime import UTC, date, datetime

from kafka import KafkaProducer

from learnstream.settings import Settings
from schemas.activity import Activity, ActivityKind, ConversationKind, ConversationRef, SourceSystem
from schemas.directory import DirectoryRecord, TeamMembership
from schemas.learning_event import LearningEvent
from streams.classify import default_classifier
from streams.processing import learning_event_for
from warehouse.directory import load_directory
from warehouse.events_table import COLUMNS, TABLE, event_row

ALICE, BOB, CAROL = "p_" + "a1" * 12, "p_" + "b2" * 12, "p_" + "c3" * 12


def publish_directory(settings: Settings, records: list[DirectoryRecord | tuple[str, None]]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    for record in records:
        if isinstance(record, tuple):
            producer.send(settings.topics.names.directory, key=record[0].encode(), value=None)
        else:
            producer.send(settings.topics.names.directory, key=record.person.encode(), value=record.to_bytes())
    producer.flush()
    producer.close()


def event(actor: str, day: date, native: str) -> LearningEvent:
    activity = Activity.create(
        source=SourceSystem.SLACK,
        source_instance="acme",
        native_id=native,
        kind=ActivityKind.MESSAGE,
        occurred_at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
        actor=actor,
        conversation=ConversationRef(kind=ConversationKind.THREAD, id=native),
        subject="platform-help",
        text="how do I rotate the kafka credentials?",
    )
    return learning_event_for(activity, default_classifier())


def test_events_join_the_team_their_actor_was_in_that_day(settings: Settings, warehouse) -> None:
    client, database = warehouse
    moved = DirectoryRecord(
        person=ALICE,
        memberships=(
            TeamMembership(valid_from=date(2024, 1, 1), team="platform", department="Engineering"),
            TeamMembership(valid_from=date(2024, 6, 1), team="data", department="Engineering"),
        ),
    )
    stayed = DirectoryRecord(person=BOB, memberships=(TeamMembership(valid_from=date(2023, 1, 1), team="sales"),))
    publish_directory(settings, [moved, stayed])
    assert load_directory(settings.kafka, settings.topics.names.directory, client, database) == 2

    events = [
        event(ALICE, date(2024, 5, 31), "C01/1.0"),  # before the move
        event(ALICE, date(2024, 6, 1), "C01/2.0"),  # the day of the move
        event(ALICE, date(2023, 12, 31), "C01/3.0"),  # before the directory knows her
        event(BOB, date(2024, 6, 1), "C01/4.0"),
        event(CAROL, date(2024, 6, 1), "C01/5.0"),  # not in the directory (a contractor)
    ]
    client.insert(f"{database}.{TABLE}", [event_row(e, 0, n) for n, e in enumerate(events)], column_names=list(COLUMNS))
    teams = dict(client.query(f"SELECT event_id, actor_team FROM {database}.learning_events_with_team").result_rows)
    assert [teams[e.event_id] for e in events] == ["platform", "data", None, "sales", None]

    # HR corrects the history (Alice never was in platform) and the correction replaces it; a later load wins
    corrected = DirectoryRecord(
        person=ALICE, memberships=(TeamMembership(valid_from=date(2024, 1, 1), team="data", department="Engineering"),)
    )
    publish_directory(settings, [corrected])
    load_directory(settings.kafka, settings.topics.names.directory, client, database)
    teams = dict(client.query(f"SELECT event_id, actor_team FROM {database}.learning_events_with_team").result_rows)
    assert [teams[e.event_id] for e in events] == ["data", "data", None, "sales", None]
    memberships = client.query(
        f"SELECT person, valid_from, team FROM {database}.current_team_memberships ORDER BY person, valid_from"
    ).result_rows
    assert memberships == [(ALICE, date(2024, 1, 1), "data"), (BOB, date(2023, 1, 1), "sales")]
    assert not any("@" in str(value) for row in memberships for value in row)  # pseudonyms and teams only
