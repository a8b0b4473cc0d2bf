"""Parsing `LEARNSTREAM_CLICKHOUSE_DSN`: the embedded chDB engine or a ClickHouse server, same SQL both ways.

chdb:///abs/path/to/dir[?database=name]           the real ClickHouse engine in this process
http(s)://user:password@host:8123/database         a ClickHouse server over HTTP(S)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from learnstream.errors import ConfigError

DSN_VARIABLE = "LEARNSTREAM_CLICKHOUSE_DSN"
DEFAULT_DATABASE = "learnstream"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


@dataclass(frozen=True)
class WarehouseTarget:
    """Where the warehouse lives: an embedded chDB directory or a ClickHouse server, and the database in it."""

    engine: Literal["chdb", "http"]
    database: str
    path: Path | None = None
    host: str | None = None
    port: int | None = None
    username: str = "default"
    password: str = ""
    secure: bool = False

    def describe(self) -> str:
        """The target without its password, safe for logs and error messages."""
        if self.engine == "chdb":
            return f"chdb://{self.path} (database {self.database})"
        scheme = "https" if self.secure else "http"
        return f"{scheme}://{self.username}@{self.host}:{self.port}/{self.database}"


def check_identifier(name: str, what: str) -> str:
    """A ClickHouse identifier we can safely put in DDL, or a ConfigError."""
    if not _IDENTIFIER.match(name):
        raise ConfigError(f"{what} {name!r} is not a plain identifier (letters, digits, '_'); fix {DSN_VARIABLE}")
    return name


def parse_dsn(dsn: str) -> WarehouseTarget:
    """Parse a warehouse DSN; a malformed one raises ConfigError naming LEARNSTREAM_CLICKHOUSE_DSN."""
    try:
        parts = urlsplit(dsn.strip())
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{DSN_VARIABLE} is not a valid URL ({exc})") from exc
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    if parts.scheme == "chdb":
        if parts.netloc or not parts.path.startswith("/") or parts.path == "/":
            raise ConfigError(
                f"{DSN_VARIABLE} for the embedded engine must be chdb:///absolute/path/to/dir, got {dsn!r}"
            )
        database = check_identifier(query.get("database", DEFAULT_DATABASE), "database")
        return WarehouseTarget(engine="chdb", database=database, path=Path(unquote(parts.path)))
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise ConfigError(f"{DSN_VARIABLE} must name a host: http(s)://user:password@host:8123/database")
        secure = parts.scheme == "https"
        database = check_identifier(unquote(parts.path.strip("/")) or DEFAULT_DATABASE, "database")
        return WarehouseTarget(
            engine="http",
            database=database,
            host=parts.hostname,
            port=port or (8443 if secure else 8123),
            username=unquote(parts.username) if parts.username else "default",
            password=unquote(parts.password) if parts.password else "",
            secure=secure,
        )
    shown = parts.scheme or "(none)"
    raise ConfigError(
        f"{DSN_VARIABLE} has an unsupported scheme {shown!r}: use chdb:///path/to/dir or http(s)://user:pw@host:8123/db"
    )
