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

import math
import threading
from collections.abc import Iterable

#: The share of new ids the filter mistakes for stored ones (each costs them a lookup in the engine).
ERROR_RATE = 0.0001
#: Bit positions per id. The fewest bits for ERROR_RATE take 13 positions, each a step of Python: adding and
#: testing the ids of a write cost serve 6-8 µs a Statement (bench/README.md, issue 11). Four take 38 bits an id
#: instead of 19 (4.8 MB a million ids), and a test stops at the first position not set (most new ids: one).
POSITIONS = 4


class _Filter:
    """One Bloom filter for `capacity` ids at ERROR_RATE with POSITIONS positions an id."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        # m = -k n / ln(1 - p^(1/k)): the bits that give error rate p with k positions for n ids
        bits_per_id = -POSITIONS / math.log(1 - ERROR_RATE ** (1 / POSITIONS))
        self.size = max(64, math.ceil(capacity * bits_per_id))  # bits
        self.bits = bytearray((self.size + 7) // 8)
        self.count = 0

    def add(self, first: int, second: int) -> None:
        bits, size = self.bits, self.size
        for step in range(POSITIONS):
            position = (first + step * second) % size
            bits[position >> 3] |= 1 << (position & 7)
        self.count += 1

    def might_hold(self, first: int, second: int) -> bool:
        bits, size = self.bits, self.size
        for step in range(POSITIONS):
            position = (first + step * second) % size
            if not bits[position >> 3] & (1 << (position & 7)):
                return False
        return True


def _hashes(statement_id: str) -> tuple[int, int]:
    """Two hashes of an id for double hashing, from Python's own string hash: 64 bits, keyed afresh in every process
    (so ids cannot be crafted to collide), and kept with the string once worked out, so a write's ids, hashed for the
    settling anyway, cost nothing more. The filter lives in one process only: it is seeded from the table."""
    value = hash(statement_id) & 0xFFFF_FFFF_FFFF_FFFF
    return value, (value >> 32 | value << 32) & 0xFFFF_FFFF_FFFF_FFFF | 1


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
