"""Which Statement ids are certainly not stored, without asking the engine: a Bloom filter of the ids stored.

Every write asks the store which of its ids are stored already (conflicts, identical re-posts). Nearly all are
new, and the engine answers an `id IN (...)` of hundreds of random ids by reading a granule of the id column per
id and part: ~15 ms per 800 ids on a fresh store, growing with the table. The filter answers "certainly not
stored" for all but ~1 in 10,000 new ids, so the store asks the engine only about the rest.

It holds only when this process is the only writer of the Statement tables (serve owning the embedded chDB),
and only once it has seen every id stored before it started (`seeded`). Ids are added before they are written,
so the filter never misses a stored id; deleted ids (retention, erase) stay in it and cost a query at most.
When it fills up, a larger filter is added beside it, so the error rate holds as the store grows.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Iterable

#: The share of new ids the filter mistakes for stored ones (each costs them a lookup in the engine).
ERROR_RATE = 0.0001


class _Filter:
    """One Bloom filter for `capacity` ids at ERROR_RATE."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.size = max(64, math.ceil(-capacity * math.log(ERROR_RATE) / math.log(2) ** 2))  # bits
        self.hashes = max(1, round(self.size / capacity * math.log(2)))
        self.bits = bytearray((self.size + 7) // 8)
        self.count = 0

    def positions(self, first: int, second: int) -> list[int]:
        return [(first + n * second) % self.size for n in range(self.hashes)]

    def add(self, first: int, second: int) -> None:
        for position in self.positions(first, second):
            self.bits[position >> 3] |= 1 << (position & 7)
        self.count += 1

    def might_hold(self, first: int, second: int) -> bool:
        bits = self.bits
        return all(bits[position >> 3] & (1 << (position & 7)) for position in self.positions(first, second))


def _hashes(statement_id: str) -> tuple[int, int]:
    digest = hashlib.blake2b(statement_id.encode(), digest_size=16).digest()
    return int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little") | 1


class StoredIds:
    """A Bloom filter of stored Statement ids (lowercase), safe to add to from several threads."""

    def __init__(self, capacity: int = 1_000_000) -> None:
        self._filters = [_Filter(capacity)]
        self._lock = threading.Lock()
        self.seeded = False  # True once every id stored before this process started has been added

    def add(self, ids: Iterable[str]) -> None:
        """Count `ids` as stored (before they are written: the filter must never miss one)."""
        with self._lock:
            for statement_id in ids:
                current = self._filters[-1]
                if current.count >= current.capacity:
                    current = _Filter(current.capacity * 2)
                    self._filters.append(current)
                current.add(*_hashes(statement_id))

    def might_hold(self, statement_id: str) -> bool:
        """False: certainly not stored. True: stored, or (about once in 1/ERROR_RATE) a new id."""
        if not self.seeded:
            return True
        first, second = _hashes(statement_id)
        return any(item.might_hold(first, second) for item in self._filters)

    @property
    def count(self) -> int:
        return sum(item.count for item in self._filters)

    @property
    def bytes(self) -> int:
        return sum(len(item.bits) for item in self._filters)
