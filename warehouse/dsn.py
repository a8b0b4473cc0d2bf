"""Parsing `LEARNSTREAM_CLICKHOUSE_DSN`: the embedded chDB engine or a ClickHouse server, same SQL both ways.

chdb:///abs/path/to/dir[?database=name]           the real ClickHouse engine in this process
http(s)://user:password@host:8123/database         a ClickHouse server over HTTP(S)
https://user:password@host:8443/database?ca_cert=/path/ca.pem&client_cert=...&client_key=...&verify=true
                                                   over TLS with a CA of its own, a client certificate
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
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
    # TLS for https: the CA to verify the server with (default: the system's), a client certificate and key for
    # mutual TLS, whether to verify at all, and the name the certificate must hold when it is not the host
    ca_cert: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    verify: bool = True
    server_host_name: str | None = None

    def describe(self) -> str:
        """The target without its password, safe for logs and error messages."""
        if self.engine == "chdb":
            return f"chdb://{self.path} (database {self.database})"
        scheme = "https" if self.secure else "http"
        return f"{scheme}://{self.username}@{self.host}:{self.port}/{self.database}"


#: The TLS parameters an https DSN takes (`?ca_cert=/etc/ssl/ch-ca.pem&client_cert=...&client_key=...`).
TLS_PARAMETERS = ("ca_cert", "client_cert", "client_key", "verify", "server_host_name")
TLS_HELP = "ca_cert=, client_cert= with client_key=, verify=true|false, server_host_name="


def server_options(target: WarehouseTarget) -> dict[str, Any]:
    """clickhouse-connect's arguments for a ClickHouse server (credentials and TLS)."""
    options: dict[str, Any] = {
        "host": target.host,
        "port": target.port,
        "username": target.username,
        "password": target.password,
        "secure": target.secure,
    }
    if target.secure:
        options["verify"] = target.verify
        for name, option in (
            ("ca_cert", "ca_cert"),
            ("client_cert", "client_cert"),
            ("client_key", "client_cert_key"),
            ("server_host_name", "server_host_name"),
        ):
            value = getattr(target, name)
            if value is not None:
                options[option] = str(value)
    return options


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
        unknown = sorted(set(query) - set(TLS_PARAMETERS))
        if unknown:
            raise ConfigError(f"{DSN_VARIABLE}: unknown parameter(s) {', '.join(unknown)}; it takes {TLS_HELP}")
        if query and not secure:
            raise ConfigError(f"{DSN_VARIABLE}: {', '.join(sorted(query))} need https://")
        if ("client_cert" in query) != ("client_key" in query):
            raise ConfigError(f"{DSN_VARIABLE}: give client_cert and client_key together")
        if query.get("verify", "true") not in ("true", "false"):
            raise ConfigError(f"{DSN_VARIABLE}: verify=true or verify=false")
        return WarehouseTarget(
            engine="http",
            database=database,
            host=parts.hostname,
            port=port or (8443 if secure else 8123),
            username=unquote(parts.username) if parts.username else "default",
            password=unquote(parts.password) if parts.password else "",
            secure=secure,
            ca_cert=Path(query["ca_cert"]) if "ca_cert" in query else None,
            client_cert=Path(query["client_cert"]) if "client_cert" in query else None,
            client_key=Path(query["client_key"]) if "client_key" in query else None,
            verify=query.get("verify", "true") == "true",
            server_host_name=query.get("server_host_name"),
        )
    shown = parts.scheme or "(none)"
    raise ConfigError(
        f"{DSN_VARIABLE} has an unsupported scheme {shown!r}: use chdb:///path/to/dir or http(s)://user:pw@host:8123/db"
    )
