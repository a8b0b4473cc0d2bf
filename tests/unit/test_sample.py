"""The shipped sample is honest: rebuilding it from the recordings gives the committed file, line for line."""

from __future__ import annotations

from pathlib import Path

from producers.samples import build_sample, write_jsonl
from schemas import Activity, SourceSystem

DEVELOPMENT_KEY = b"learnstream-development-key-not-for-production"
DEVELOPMENT_ID_KEY = b"learnstream-development-id-key-not-for-production"
COMMITTED_SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "activities.jsonl"


def test_rebuilt_sample_equals_the_committed_file(shared_data):
    rebuilt = [activity.to_bytes() for activity in build_sample(shared_data, DEVELOPMENT_KEY, DEVELOPMENT_ID_KEY)]
    committed = COMMITTED_SAMPLE.read_bytes().splitlines()
    assert len(rebuilt) == len(committed) == 552
    mismatched = [
        number for number, (ours, theirs) in enumerate(zip(rebuilt, committed, strict=True), 1) if ours != theirs
    ]
    assert mismatched == [], f"samples/activities.jsonl differs from a rebuild at lines {mismatched[:10]}"


def test_sample_covers_every_recorded_source(shared_data):
    activities = build_sample(shared_data, DEVELOPMENT_KEY, DEVELOPMENT_ID_KEY)
    counts = {source: sum(a.source is source for a in activities) for source in SourceSystem}
    assert counts[SourceSystem.SLACK] == 152
    assert counts[SourceSystem.MEDIAWIKI] == 100
    assert counts[SourceSystem.XAPI] == 300


def test_every_committed_line_is_a_valid_activity():
    lines = COMMITTED_SAMPLE.read_bytes().splitlines()
    activities = [Activity.from_bytes(line) for line in lines]
    assert len({activity.activity_id for activity in activities}) == len(lines)


def test_write_jsonl_writes_one_activity_per_line(shared_data, tmp_path):
    activities = build_sample(shared_data, DEVELOPMENT_KEY, DEVELOPMENT_ID_KEY, xapi_limit=5)[-7:]
    path = tmp_path / "nested" / "sample.jsonl"
    write_jsonl(activities, path)
    data = path.read_bytes()
    assert data.endswith(b"\n")
    assert [Activity.from_bytes(line) for line in data.splitlines()] == activities
