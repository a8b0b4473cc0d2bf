"""Logging set-up for entry points. Library modules only call `logging.getLogger(__name__)`."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "info") -> None:
    """Log to stderr at the given level; quiets chatty client libraries to WARNING."""
    logging.basicConfig(level=level.upper(), format=FORMAT, stream=sys.stderr, force=True)
    for noisy in ("kafka", "aiokafka", "clickhouse_connect"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
