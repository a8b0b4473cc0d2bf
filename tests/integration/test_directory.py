"""The people directory published to its compacted topic on the real broker."""

from __future__ import annotations

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from learnstream.kafka import make_producer
from learnstream.settings import Settings
from producers.cursors import FileCursorStore
from producers.directory import DirectorySnapshot
from producers.pseudonymise import person_pseudonym
from producers.runtime import run_connector
from schemas.directory import DirectoryRecord
from tests.integration.support import read_topic

KEY = b"integration-test-key"
EXPORT = """person_id,email,team,department,manager_id,valid_from,slack,wiki
e1,ada@example.org,platform,engineering,e9,2026-01-01,U01,Ada Lovelace
e1,ada@example.org,data,engineering,e8,2026-06-01,,
e2,bob@example.org,data,engineering,e8,2026-03-15,U02,
"""


def topic_config(bootstrap: str, topic: str) -> dict[str, str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        return {name: str(data["value"]) for name, data in described["topic"][topic].items()}
    finally:
        admin.close()


def test_the_directory_is_published_by_pseudonym_without_names_and_only_when_changed(settings: Settings, tmp_path):
    export = tmp_path / "people.csv"
    export.write_text(EXPORT, encoding="utf-8")
    topic = settings.topics.names.directory
    cursors = FileCursorStore(tmp_path / "cursors")
    producer = make_producer(settings.kafka, "test-directory")
    try:
        first = run_connector(DirectorySnapshot(export, KEY), producer, topic, cursors)
        again = run_connector(DirectorySnapshot(export, KEY), producer, topic, cursors)
        export.write_text(EXPORT + "e3,carol@example.org,support,,,2026-02-01,,Carol\n", encoding="utf-8")
        changed = run_connector(DirectorySnapshot(export, KEY), producer, topic, cursors)
    finally:
        producer.close()

    assert (first.records, again.records, changed.records) == (2, 0, 3)
    records = read_topic(settings.kafka.bootstrap_servers, topic, expected=5)
    assert len(records) == 5
    for key, value in records:
        assert b"example.org" not in value and b"Ada" not in value and b'"e1"' not in value
        assert key == DirectoryRecord.from_bytes(value).person.encode()
    latest = {key: DirectoryRecord.from_bytes(value) for key, value in records}  # what compaction keeps
    assert set(latest) == {person_pseudonym(KEY, person).encode() for person in ("e1", "e2", "e3")}
    ada = latest[person_pseudonym(KEY, "e1").encode()]
    assert [m.team for m in ada.memberships] == ["platform", "data"]
    assert ada.memberships[1].manager == person_pseudonym(KEY, "e8")
    configs = topic_config(settings.kafka.bootstrap_servers, topic)
    assert configs["cleanup.policy"] == "compact"
    assert "retention.ms" not in configs  # modified configs only: the directory never expires by age
