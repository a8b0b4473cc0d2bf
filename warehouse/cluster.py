"""Cluster mode: the embedded-mode DDL of the migrations, translated for a ClickHouse cluster.

With `LEARNSTREAM_WAREHOUSE__CLUSTER=<name>`, every statement runs `ON CLUSTER <name>` and every MergeTree-family
table `X` is laid out so that queries and inserts keep naming `X`, as in embedded mode:

- Sharded tables (the events and the trend tables): `X_local` on every node with the Replicated engine
  (`/clickhouse/tables/{shard}/<database>/X`, `{replica}`, the original engine arguments, ordering and settings),
  and a Distributed table `X` over it. `learning_events` (and `learning_events_next`, which is exchanged with it)
  is sharded by `cityHash64(event_id)`, so every row of an event lands on one shard and `FINAL` still collapses
  them; the trend tables, their `_staging` copies and `rollup_events_staging` by `rand()`, as their cells merge
  at query time anyway and the rebuild reads its staged events back whole (team_activity's final counts are
  computed by an INSERT … SELECT over the Distributed activity_cells, so each lands on one shard, whole).
- Tables every node needs whole (`team_memberships`, `erased_people`, `classifier_activations`, `rollup_log`,
  `schema_migrations`): one replicated table under its own name `X`, with a ZooKeeper path without `{shard}`
  (`/clickhouse/tables/all/<database>/X`), so every replica of every shard holds all of it. We chose no
  `X_local` + Distributed pair for these: a Distributed table over tables that every shard holds whole would
  return each row once per shard (counts multiply, `FINAL` cannot collapse copies on different shards), while a
  local read on any node is complete, also inside a distributed query (a join with `current_team_memberships`
  runs on each shard against its own whole copy). Their replica name is `{shard}-{replica}`, because the
  `{replica}` macro only has to be unique within a shard and these tables span all shards.

Statement by statement: `CREATE DATABASE` and `CREATE VIEW` get `ON CLUSTER` (views keep reading the Distributed
names); `CREATE MATERIALIZED VIEW … TO X … FROM Y` targets and reads the local tables, since an insert triggers it
on the node that stores the rows; `CREATE TABLE X AS Y` becomes `X_local AS Y_local` with Y's engine stated
explicitly under X's own ZooKeeper path; `DROP TABLE X` drops `X` and `X_local`; `EXCHANGE TABLES A AND B`
exchanges `A_local` and `B_local`: a Distributed table resolves its local table by name, so `A` then reads the new
rows, but its column list was fixed when it was created, so `A` and `B` are created again from their exchanged
local tables. `INSERT … SELECT` still goes through the Distributed tables, with `insert_distributed_sync = 1` so
the rows are on their shards before the next statement (an exchange or a drop) runs. `ALTER TABLE X MODIFY
SETTING` and `DROP COLUMN` change the storage (`X_local` for a sharded table; a dropped column also leaves its
Distributed table). A statement of any other
kind raises MigrationError: cluster mode must never apply DDL it does not understand.

Untested against a live cluster: the tests only check the translation and that the engine parses it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from learnstream.errors import ConfigError, MigrationError, WarehouseError
from warehouse.trend_tables import TREND_TABLES

CLUSTER_VARIABLE = "LEARNSTREAM_WAREHOUSE__CLUSTER"
LOCAL_SUFFIX = "_local"


SHARDING_KEYS: dict[str, str] = {
    "learning_events": "cityHash64(event_id)",
    "learning_events_next": "cityHash64(event_id)",
    # migration 0002's materialized view target (dropped by 0004): written on each shard by its view, never
    # through the Distributed table, so the key only has to be valid
    "learning_events_daily": "rand()",
    **dict.fromkeys(TREND_TABLES, "rand()"),
    **{f"{table}_staging": "rand()" for table in TREND_TABLES},
    # one month of events staged by the rebuild (warehouse/rollup.py), read back whole through its Distributed table
    "rollup_events_staging": "rand()",
}
"""The sharded tables and the sharding key of their Distributed table."""

REPLICATED_EVERYWHERE = frozenset(
    {
        "team_memberships",
        "erased_people",
        "classifier_activations",
        "rollup_log",
        "schema_migrations",
        # the LRS's Statement store: every replica answers a conflict check and a GET (with its sub-selects on
        # voided and targeted Statements) from its own whole copy
        "xapi_statements",
        "xapi_voided",
        "xapi_attachments",
    }
)
"""The tables every replica of every shard holds whole, under their own name (no Distributed table)."""

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_NAME = r"([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)"
_ON_CLUSTER = re.compile(r"\bON\s+CLUSTER\b", re.IGNORECASE)
_CREATE_DATABASE = re.compile(r"^CREATE\s+DATABASE\s+(IF\s+NOT\s+EXISTS\s+)?([A-Za-z_][A-Za-z0-9_]*)(.*)$", re.I | re.S)
_CREATE_TABLE = re.compile(rf"^CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?{_NAME}\s*(.*)$", re.I | re.S)
_AS_TABLE = re.compile(rf"^AS\s+{_NAME}\s*(.*)$", re.I | re.S)
_ENGINE = re.compile(r"^ENGINE\s*=\s*([A-Za-z_][A-Za-z0-9_]*)\s*", re.I)
_CREATE_VIEW = re.compile(rf"^CREATE\s+VIEW\s+(IF\s+NOT\s+EXISTS\s+)?{_NAME}\s+(AS\s+.*)$", re.I | re.S)
_CREATE_MATERIALIZED_VIEW = re.compile(
    rf"^CREATE\s+MATERIALIZED\s+VIEW\s+(IF\s+NOT\s+EXISTS\s+)?{_NAME}\s+TO\s+{_NAME}\s+(AS\s+.*)$", re.I | re.S
)
_DROP = re.compile(rf"^DROP\s+(TABLE|VIEW)\s+(IF\s+EXISTS\s+)?{_NAME}$", re.I)
_EXCHANGE = re.compile(rf"^EXCHANGE\s+TABLES\s+{_NAME}\s+AND\s+{_NAME}$", re.I)
_INSERT_SELECT = re.compile(rf"^INSERT\s+INTO\s+{_NAME}\s*(.*)$", re.I | re.S)
_ALTER_STORAGE = re.compile(
    rf"^ALTER\s+TABLE\s+{_NAME}\s+((?:MODIFY\s+SETTING|DROP\s+COLUMN(?:\s+IF\s+EXISTS)?)\s+.+)$", re.I | re.S
)
_SELECT = re.compile(r"^(SELECT|WITH)\b", re.I)
# a replicated table dedupes over `replicated_deduplication_window` inserts; the non-replicated setting no longer
# applies, so the window a migration asked for is carried over
_NON_REPLICATED_SETTING = re.compile(r"\bnon_replicated_deduplication_window\b")


@dataclass(frozen=True)
class Storage:
    """A MergeTree-family table's storage: engine family, engine arguments, and the clauses after the engine."""

    engine: str
    arguments: str
    clauses: str


def local_table(name: str, cluster: str | None) -> str:
    """The table holding a node's own rows of `name`: `name_local` for a sharded table in cluster mode, else `name`.

    For `ALTER TABLE … REPLACE PARTITION` and other statements a Distributed table does not support.
    """
    if cluster is None or name in REPLICATED_EVERYWHERE:
        return name
    if name in SHARDING_KEYS:
        return name + LOCAL_SUFFIX
    raise WarehouseError(
        f"table {name!r} has no cluster layout: add it to SHARDING_KEYS or REPLICATED_EVERYWHERE "
        "in warehouse/cluster.py"
    )


def cluster_statements(statements: list[str], database: str, cluster: str) -> list[str]:
    """The statements of one migration (embedded-mode DDL for `database`) translated for `cluster`."""
    return ClusterDDL(database, cluster).translate(statements)


class ClusterDDL:
    """Translates embedded-mode DDL for a cluster, statement by statement, in migration order.

    It remembers the storage of every MergeTree table it has seen, so a later `CREATE TABLE X AS Y` (even in a later
    migration) can state Y's engine, ordering and settings for X explicitly.
    """

    def __init__(self, database: str, cluster: str) -> None:
        if not _IDENTIFIER.match(cluster):
            raise ConfigError(
                f"cluster {cluster!r} is not a plain identifier (letters, digits, '_'); fix {CLUSTER_VARIABLE}"
            )
        if not _IDENTIFIER.match(database):
            raise ConfigError(f"database {database!r} is not a plain identifier (letters, digits, '_')")
        self.database = database
        self.cluster = cluster
        self._storage: dict[str, Storage] = {}

    def translate(self, statements: list[str]) -> list[str]:
        """The cluster statements for a list of statements, in order."""
        return [translated for statement in statements for translated in self.translate_statement(statement)]

    def translate_statement(self, statement: str) -> list[str]:
        """The cluster statements for one statement; MigrationError for a kind cluster mode does not know."""
        text = statement.strip().rstrip(";").strip()
        if _ON_CLUSTER.search(text):
            raise self._refuse(text, "it already names a cluster; migrations are written for embedded mode")
        if match := _CREATE_DATABASE.match(text):
            if_not_exists, name, rest = match.groups()
            self._check_database(name, text)
            return [f"CREATE DATABASE {if_not_exists or ''}{name} ON CLUSTER {self.cluster}{rest}"]
        if match := _CREATE_MATERIALIZED_VIEW.match(text):
            return self._materialized_view(text, match)
        if match := _CREATE_VIEW.match(text):
            if_not_exists, database, name, query = match.groups()
            self._check_database(database, text)
            return [f"CREATE VIEW {if_not_exists or ''}{database}.{name} ON CLUSTER {self.cluster} {query}"]
        if match := _CREATE_TABLE.match(text):
            return self._create_table(text, match)
        if match := _DROP.match(text):
            return self._drop(text, match)
        if match := _EXCHANGE.match(text):
            return self._exchange(text, match)
        if match := _INSERT_SELECT.match(text):
            return [self._insert_select(text, match)]
        if match := _ALTER_STORAGE.match(text):
            return self._alter_storage(text, match)
        raise self._refuse(text, "cluster mode does not know this kind of statement")

    def _create_table(self, text: str, match: re.Match[str]) -> list[str]:
        if_not_exists, database, name, rest = match.groups()
        self._check_database(database, text)
        if_not_exists = if_not_exists or ""
        if as_match := _AS_TABLE.match(rest):
            source_database, source, engine_clause = as_match.groups()
            self._check_database(source_database, text)
            if engine_clause:
                storage = self._storage_of(engine_clause, text)
            elif source in self._storage:
                storage = self._storage[source]
            else:
                raise self._refuse(text, f"the engine of {source} is unknown: create {source} in an earlier statement")
            definition = f"AS {database}.{self._local_name(source, text)}"
        elif rest.startswith("("):
            end = _closing_paren(rest, 0, text)
            definition = rest[: end + 1]
            storage = self._storage_of(rest[end + 1 :].strip(), text)
        else:
            raise self._refuse(text, "a table needs a column list or AS <table>")
        self._storage[name] = storage
        replicated = _NON_REPLICATED_SETTING.sub("replicated_deduplication_window", storage.clauses)
        clauses = f" {replicated}" if replicated else ""
        if name in REPLICATED_EVERYWHERE:
            engine = self._replicated_engine(storage, f"/clickhouse/tables/all/{database}/{name}", "{shard}-{replica}")
            return [
                f"CREATE TABLE {if_not_exists}{database}.{name} ON CLUSTER {self.cluster} {definition} "
                f"ENGINE = {engine}{clauses}"
            ]
        local = self._local_name(name, text)
        engine = self._replicated_engine(storage, f"/clickhouse/tables/{{shard}}/{database}/{name}", "{replica}")
        return [
            f"CREATE TABLE {if_not_exists}{database}.{local} ON CLUSTER {self.cluster} {definition} "
            f"ENGINE = {engine}{clauses}",
            self._distributed(name, if_not_exists),
        ]

    def _materialized_view(self, text: str, match: re.Match[str]) -> list[str]:
        if_not_exists, database, name, target_database, target, query = match.groups()
        for named in (database, target_database):
            self._check_database(named, text)

        def local_reference(reference: re.Match[str]) -> str:
            return f"{self.database}.{self._local_name(reference.group(1), text)}"

        # an insert fires a materialized view on the node it is written to: that is the local table's node
        local_query = re.sub(rf"\b{re.escape(self.database)}\.([A-Za-z_][A-Za-z0-9_]*)\b", local_reference, query)
        return [
            f"CREATE MATERIALIZED VIEW {if_not_exists or ''}{database}.{name} ON CLUSTER {self.cluster} "
            f"TO {target_database}.{self._local_name(target, text)} {local_query}"
        ]

    def _drop(self, text: str, match: re.Match[str]) -> list[str]:
        kind, if_exists, database, name = match.groups()
        self._check_database(database, text)
        self._storage.pop(name, None)
        kind = kind.upper()
        # SYNC: a replicated table leaves ZooKeeper at once, so a later migration may reuse its path
        statements = [f"DROP {kind} {if_exists or ''}{database}.{name} ON CLUSTER {self.cluster} SYNC"]
        if kind == "TABLE" and name not in REPLICATED_EVERYWHERE:
            statements.append(f"DROP TABLE IF EXISTS {database}.{name}{LOCAL_SUFFIX} ON CLUSTER {self.cluster} SYNC")
        return statements

    def _alter_storage(self, text: str, match: re.Match[str]) -> list[str]:
        """A setting is the storage's: `X_local`'s for a sharded table. A column dropped is dropped from the
        storage, then from the Distributed table, whose column list is its own."""
        database, name, change = match.groups()
        self._check_database(database, text)
        if name not in REPLICATED_EVERYWHERE and name not in SHARDING_KEYS:
            raise self._refuse(text, f"{name} is neither sharded nor replicated everywhere (warehouse/cluster.py)")
        statements = [f"ALTER TABLE {database}.{local_table(name, self.cluster)} ON CLUSTER {self.cluster} {change}"]
        if name in SHARDING_KEYS and re.match(r"DROP\s", change, re.I):
            statements.append(f"ALTER TABLE {database}.{name} ON CLUSTER {self.cluster} {change}")
        return statements

    def _exchange(self, text: str, match: re.Match[str]) -> list[str]:
        first_database, first, second_database, second = match.groups()
        for named in (first_database, second_database):
            self._check_database(named, text)
        first_storage, second_storage = self._storage.pop(first, None), self._storage.pop(second, None)
        if first_storage is not None:
            self._storage[second] = first_storage
        if second_storage is not None:
            self._storage[first] = second_storage
        database = self.database
        if first in REPLICATED_EVERYWHERE and second in REPLICATED_EVERYWHERE:
            return [f"EXCHANGE TABLES {database}.{first} AND {database}.{second} ON CLUSTER {self.cluster}"]
        if SHARDING_KEYS.get(first) != SHARDING_KEYS.get(second) or first not in SHARDING_KEYS:
            raise self._refuse(text, "both tables must be sharded by the same key (see SHARDING_KEYS)")
        statements = [
            f"EXCHANGE TABLES {database}.{first}{LOCAL_SUFFIX} AND {database}.{second}{LOCAL_SUFFIX} "
            f"ON CLUSTER {self.cluster}"
        ]
        for name in (first, second):
            statements.append(f"DROP TABLE IF EXISTS {database}.{name} ON CLUSTER {self.cluster} SYNC")
            statements.append(self._distributed(name, "IF NOT EXISTS "))
        return statements

    def _insert_select(self, text: str, match: re.Match[str]) -> str:
        database, name, rest = match.groups()
        self._check_database(database, text)
        rest = rest or ""
        head = f"INSERT INTO {database}.{name}"
        if rest.startswith("("):
            end = _closing_paren(rest, 0, text)
            head, rest = f"{head} {rest[: end + 1]}", rest[end + 1 :].strip()
        if not _SELECT.match(rest):
            raise self._refuse(text, "only INSERT … SELECT is known")
        # a Distributed table otherwise queues the rows and sends them to the shards later
        return f"{head} SETTINGS insert_distributed_sync = 1 {rest}"

    def _storage_of(self, engine_clause: str, text: str) -> Storage:
        match = _ENGINE.match(engine_clause)
        if not match:
            raise self._refuse(text, "a table needs ENGINE = <engine>")
        engine, rest = match.group(1), engine_clause[match.end() :]
        arguments = ""
        if rest.startswith("("):
            end = _closing_paren(rest, 0, text)
            arguments, rest = rest[1:end].strip(), rest[end + 1 :]
        if not engine.endswith("MergeTree") or engine.startswith("Replicated"):
            raise self._refuse(text, f"cluster mode only knows non-replicated MergeTree engines, not {engine}")
        return Storage(engine=engine, arguments=arguments, clauses=rest.strip())

    def _replicated_engine(self, storage: Storage, path: str, replica: str) -> str:
        arguments = ", ".join(argument for argument in (f"'{path}'", f"'{replica}'", storage.arguments) if argument)
        return f"Replicated{storage.engine}({arguments})"

    def _distributed(self, name: str, if_not_exists: str) -> str:
        database, local = self.database, name + LOCAL_SUFFIX
        return (
            f"CREATE TABLE {if_not_exists}{database}.{name} ON CLUSTER {self.cluster} AS {database}.{local} "
            f"ENGINE = Distributed({self.cluster}, {database}, {local}, {SHARDING_KEYS[name]})"
        )

    def _local_name(self, name: str, text: str) -> str:
        try:
            return local_table(name, self.cluster)
        except WarehouseError as exc:
            raise self._refuse(text, str(exc)) from exc

    def _check_database(self, database: str, text: str) -> None:
        if database != self.database:
            raise self._refuse(text, f"it names database {database}, not {self.database}")

    def _refuse(self, text: str, reason: str) -> MigrationError:
        shown = " ".join(text.split())
        shown = shown if len(shown) <= 200 else shown[:200] + " …"
        return MigrationError(
            f"cannot apply this statement ON CLUSTER {self.cluster}: {reason}: {shown!r}; rewrite the migration "
            "or teach warehouse/cluster.py the new statement"
        )


def _closing_paren(text: str, start: int, statement: str) -> int:
    """The index of the parenthesis closing the one at `start`, skipping quoted strings and identifiers."""
    depth, quote, index = 0, "", start
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = ""
        elif char in "'`\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    shown = " ".join(statement.split())[:200]
    raise MigrationError(f"unbalanced parentheses in this migration statement: {shown!r}; fix the migration")
