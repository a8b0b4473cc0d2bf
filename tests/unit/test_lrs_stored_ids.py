"""The filter of stored Statement ids: it never misses a stored id, and mistakes few new ones for stored."""

from __future__ import annotations

import uuid

from lrs.stored_ids import ERROR_RATE, StoredIds

NAMESPACE = uuid.UUID("0f6d9c1e-2b3a-4c5d-8e7f-9a0b1c2d3e4f")


def ids(start: int, count: int) -> list[str]:
    return [str(uuid.uuid5(NAMESPACE, str(n))) for n in range(start, start + count)]


def test_until_seeded_every_id_might_be_stored() -> None:
    stored = StoredIds(capacity=1000)
    assert all(stored.might_hold(item) for item in ids(0, 100))


def test_no_stored_id_is_missed_and_few_new_ones_are_mistaken() -> None:
    stored = StoredIds(capacity=50_000)
    stored.add(ids(0, 50_000))
    stored.seeded = True
    assert all(stored.might_hold(item) for item in ids(0, 50_000))
    mistaken = sum(stored.might_hold(item) for item in ids(1_000_000, 50_000))
    assert mistaken <= 50_000 * ERROR_RATE * 10


def test_it_grows_past_its_capacity_without_missing_or_mistaking_more() -> None:
    stored = StoredIds(capacity=1000)
    stored.add(ids(0, 20_000))
    stored.seeded = True
    assert stored.count == 20_000 and stored.bytes > 20_000 // 8
    assert all(stored.might_hold(item) for item in ids(0, 20_000))
    mistaken = sum(stored.might_hold(item) for item in ids(1_000_000, 20_000))
    assert mistaken <= 20_000 * ERROR_RATE * 10 * 5  # at most the rate of each of the (five) filters it holds
