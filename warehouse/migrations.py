"""Versioned, idempotent DDL migrations, recorded in `<database>.schema_migrations`.

Migrations are the SQL files in `warehouse/migrations/` named `NNNN_name.sql`, with `{database}` standing for
the target database. Each statement is idempotent (`IF NOT EXISTS`), and an applied migration is recorded with
its checksum, so running `migrate` again changes nothing and an edited, already-applied migration is refused.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError

from learnstream.errors import MigrationError
from warehouse.cluster import ClusterDDL
from warehouse.dsn import check_identifier

logger = logging.getLogger(__name__)

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_STATEMENT_END = re.compile(r";\s*(?:\n|$)")
_COMMENT = re.compile(r"--[^\n]*")  # our DDL has no "--" inside string literals


@dataclass(frozen=True)
class Migration:
    """One migration file: its version, name, SQL text and checksum."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()

    def statements(self, database: str) -> list[str]:
        """The SQL statements of this migration for a database, without comments."""
        text = _COMMENT.sub("", self.sql).replace("{database}", check_identifier(database, "database"))
        pieces = (piece.strip() for piece in _STATEMENT_END.split(text))
        return [piece for piece in pieces if piece]


def bundled_migrations() -> list[Migration]:
    """The migrations shipped in the package, in version order; duplicate versions are an error."""
    found: dict[int, Migration] = {}
    for entry in resources.files("warehouse").joinpath("migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if not match:
            continue
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"two migrations share version {version}: {found[version].name} and {entry.name}")
        found[version] = Migration(version=version, name=match.group(2), sql=entry.read_text(encoding="utf-8"))
    return [found[version] for version in sorted(found)]


def migrate(
    client: Any, database: str, migrations: list[Migration] | None = None, *, cluster: str | None = None
) -> list[Migration]:
    """Create the database and apply every migration not yet recorded; returns the ones applied now.

    With a `cluster`, every statement is translated for it first (warehouse/cluster.py), before any is run.
    """
    database = check_identifier(database, "database")
    pending_source = bundled_migrations() if migrations is None else migrations
    bootstrap = [
        f"CREATE DATABASE IF NOT EXISTS {database}",
        f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations "
        "(version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC')) "
        "ENGINE = MergeTree ORDER BY version",
    ]
    # applied migrations are translated too, so a later `CREATE TABLE x AS y` knows the engine of an earlier y
    translate: Callable[[list[str]], list[str]] = list if cluster is None else ClusterDDL(database, cluster).translate
    bootstrap = translate(bootstrap)
    planned = [(migration, translate(migration.statements(database))) for migration in pending_source]
    try:
        for statement in bootstrap:
            client.command(statement)
        recorded = {
            int(version): str(checksum)
            for version, checksum in client.query(
                f"SELECT version, any(checksum) FROM {database}.schema_migrations GROUP BY version"
            ).result_rows
        }
    except ClickHouseError as exc:
        raise MigrationError(f"cannot read the migration record in database {database}: {exc}") from exc
    applied: list[Migration] = []
    for migration, statements in planned:
        if migration.version in recorded:
            if recorded[migration.version] != migration.checksum:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} was changed after it was applied to "
                    f"{database}; add a new migration instead of editing an applied one"
                )
            continue
        try:
            for statement in statements:
                client.command(statement)
            client.insert(
                "schema_migrations",
                [[migration.version, migration.name, migration.checksum, datetime.now(UTC)]],
                column_names=["version", "name", "checksum", "applied_at"],
                database=database,
            )
        except ClickHouseError as exc:
            raise MigrationError(f"migration {migration.version:04d}_{migration.name} failed: {exc}") from exc
        logger.info("applied migration %04d_%s to %s", migration.version, migration.name, database)
        applied.append(migration)
    return applied
