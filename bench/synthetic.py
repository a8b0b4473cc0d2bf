"""Distinct activities for benchmarks: the bundled sample, copied with new native ids (so new activity ids)."""

from __future__ import annotations

from pathlib import Path

from schemas.activity import Activity

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "activities.jsonl"


def synthetic_activities(count: int) -> list[bytes]:
    """`count` serialized activities, cycling through the sample with a copy number in each native id."""
    base = [Activity.from_bytes(line) for line in SAMPLE.read_bytes().splitlines() if line.strip()]
    out: list[bytes] = []
    copy = 0
    while len(out) < count:
        for activity in base:
            if len(out) == count:
                break
            fields = activity.model_dump()
            fields.pop("activity_id")
            fields["native_id"] = f"{activity.native_id}#{copy}"
            out.append(Activity.create(**fields).to_bytes())
        copy += 1
    return out
