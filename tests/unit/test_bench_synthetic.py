"""The benchmark's synthetic input is valid, varied and shaped like the sample, so it cannot flatter caches."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.synthetic import SAMPLE, iter_synthetic_activities, synthetic_activities, write_jsonl
from schemas import Activity, ActivityKind
from streams.classify import default_classifier
from streams.processing import Classified, MessageOrigin, process_raw_activity

COUNT = 5_000


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    return synthetic_activities(COUNT, seed=1)


@pytest.fixture(scope="module")
def activities(lines: list[bytes]) -> list[Activity]:
    return [Activity.from_bytes(line) for line in lines]


def sample_lines() -> list[bytes]:
    return [line for line in SAMPLE.read_bytes().splitlines() if line.strip()]


def test_every_line_is_an_activity_with_its_own_id(lines: list[bytes], activities: list[Activity]) -> None:
    assert len(lines) == COUNT
    assert len({activity.activity_id for activity in activities}) == COUNT


def test_at_least_one_conversation_key_per_five_activities_and_keys_are_reused(activities: list[Activity]) -> None:
    uses = Counter(activity.conversation_key for activity in activities)
    assert len(uses) >= COUNT // 5
    assert sum(1 for used in uses.values() if used >= 2) >= COUNT // 20
    assert max(uses.values()) < COUNT // 100  # no hot key standing in for the whole stream


def test_new_conversations_keep_starting_until_the_end(activities: list[Activity]) -> None:
    cut = COUNT * 4 // 5
    early = {activity.conversation_key for activity in activities[:cut]}
    late = {activity.conversation_key for activity in activities[cut:]}
    assert len(late - early) >= (COUNT - cut) // 5


def test_replies_join_a_thread_started_earlier(activities: list[Activity]) -> None:
    started: dict[str, datetime] = {}
    replies = 0
    for activity in activities:
        if activity.kind is ActivityKind.MESSAGE:
            started[activity.conversation_key] = activity.occurred_at
        elif activity.kind is ActivityKind.REPLY:
            replies += 1
            assert activity.in_reply_to == activity.conversation.id
            assert started[activity.conversation_key] <= activity.occurred_at
    assert replies > 0


def test_texts_are_all_different(activities: list[Activity]) -> None:
    texts = [activity.text for activity in activities if activity.text]
    assert len(texts) > COUNT // 10
    assert len(set(texts)) == len(texts)


def test_times_span_a_month_in_utc_and_rise_with_position(activities: list[Activity]) -> None:
    times = [activity.occurred_at for activity in activities]
    assert all(time.utcoffset() == timedelta(0) for time in times)
    assert timedelta(days=25) <= max(times) - min(times) <= timedelta(days=31)
    assert min(times) >= datetime(2026, 10, 1, tzinfo=UTC)
    tenth = COUNT // 10
    assert max(times[:tenth]) < min(times[-tenth:])


def test_actors_come_from_a_pool_of_thousands(activities: list[Activity]) -> None:
    assert len({activity.actor for activity in activities}) >= 1_000


def test_mean_size_is_within_fifteen_percent_of_the_sample(lines: list[bytes]) -> None:
    sample = sample_lines()
    sample_mean = sum(map(len, sample)) / len(sample)
    mean = sum(map(len, lines)) / len(lines)
    assert abs(mean - sample_mean) <= 0.15 * sample_mean


def test_sources_mix_like_the_sample(activities: list[Activity]) -> None:
    sample = Counter(Activity.from_bytes(line).source for line in sample_lines())
    synthetic = Counter(activity.source for activity in activities)
    for source, seen in sample.items():
        assert abs(synthetic[source] / COUNT - seen / sum(sample.values())) < 0.02


def test_classifier_finds_categories_at_about_the_sample_rates(lines: list[bytes]) -> None:
    def shares(messages: list[bytes]) -> Counter[str]:
        origin, now = MessageOrigin("bench", 0, 0, None), datetime.now(UTC)
        categories: Counter[str] = Counter()
        for message in messages:
            outcome = process_raw_activity(message, origin, now, default_classifier())
            assert isinstance(outcome, Classified)
            categories[outcome.event.category.value] += 1
        return Counter({category: seen / len(messages) for category, seen in categories.items()})

    sample, synthetic = shares(sample_lines()), shares(lines)
    for category in sample.keys() | synthetic.keys():
        assert abs(sample[category] - synthetic[category]) < 0.04, category


def test_same_seed_same_activities_other_seed_others(lines: list[bytes]) -> None:
    assert list(iter_synthetic_activities(COUNT, seed=1)) == lines
    assert synthetic_activities(200, seed=2) != synthetic_activities(200, seed=1)


def test_write_jsonl_writes_the_same_lines_and_counts_them(tmp_path: Path) -> None:
    path = tmp_path / "out" / "synthetic.jsonl"
    stats = write_jsonl(path, 2_000, seed=3)
    written = path.read_bytes().splitlines()
    assert written == synthetic_activities(2_000, seed=3)
    activities = [Activity.from_bytes(line) for line in written]
    texts = {activity.text for activity in activities if activity.text}
    assert stats.count == 2_000
    assert stats.conversation_keys == len({activity.conversation_key for activity in activities})
    assert stats.distinct_texts == len(texts)
    assert stats.first_occurred_at == min(activity.occurred_at for activity in activities)
    assert stats.last_occurred_at == max(activity.occurred_at for activity in activities)
    assert stats.mean_bytes == pytest.approx(sum(map(len, written)) / 2_000)


def test_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="count"):
        synthetic_activities(-1)
