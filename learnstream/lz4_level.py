"""lz4 at the level kafka-python uses, for aiokafka's record batches too.

Since aiokafka 0.11 its record batches are compressed with lz4 at level 9, LZ4's slow high-compression mode
(aio-libs/aiokafka#1028, open: no setting chooses the level). On serve's activities that costs 4.2 µs a record
against 0.35 µs at level 1, for a 10 % better ratio (bench/README.md, issue 11), and it was the largest single
cost of the LRS's publication. kafka-python, which the connectors produce with, compresses lz4 at python-lz4's
default, the fast mode. So aiokafka's builders are given the same: its `lz4_encode` at `LEVEL`, in both its C and its
Python record builders. The frame format is the same at every level: every consumer reads either.
"""

from __future__ import annotations

from types import ModuleType

from aiokafka import codec
from aiokafka.record import default_records

#: The lz4 level of aiokafka's record batches (cramjam's: 0 and 1 are LZ4's fast mode, 3 and above its HC mode).
LEVEL = 1


def fast_lz4_encode(payload: bytes | bytearray | memoryview, level: int = LEVEL) -> bytes:
    """aiokafka's lz4 encoder at `level`."""
    encoded: bytes = codec.lz4_encode(payload, level)
    return encoded


def _builders() -> list[ModuleType]:
    modules = [default_records]
    try:
        from aiokafka.record._crecords import default_records as compiled
    except ImportError:  # aiokafka without its C extension (AIOKAFKA_NO_EXTENSIONS): the Python builder only
        return modules
    return [*modules, compiled]


def use_fast_lz4() -> None:
    """Make aiokafka's record batch builders compress lz4 at `LEVEL` (idempotent; the whole process)."""
    for module in _builders():
        module.lz4_encode = fast_lz4_encode  # type: ignore[attr-defined]
