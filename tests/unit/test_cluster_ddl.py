"""Cluster mode's DDL: every bundled migration translated for a cluster, parsed by the real engine's formatQuery.

No ClickHouse server (let alone a cluster) runs here: these tests check the shape of the translation and that
the engine parses every statement, not that a cluster accepts them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest

from learnstream.errors import ConfigError, MigrationError, WarehouseError
from warehouse.cluster import REPLICATED_EVERYWHERE, SHARDING_KEYS, ClusterDDL, cluster_statements, local_table
from warehouse.migrations import Migration, bundled_migrations, migrate
from warehouse.trend_tables import TREND_TABLES

DATABASE = "ls"
CLUSTER = "c1"

# chDB opens one data path per process, so the engine parses in a child process with its own in-memory engine,
# whatever other tests of this process have opened.
_FORMAT_QUERIES = r"""
import json, sys
import chdb
answers = []
for statement in json.load(sys.stdin):
    literal = "'" + statement.replace("\\", "\\\\").replace("'", "\\'") + "'"
    try:
        answers.append([True, str(chdb.query(f"SELECT formatQuery({literal})", "TabSeparatedRaw"))])
    except Exception as exc:
        answers.append([False, str(exc)])
json.dump(answers, sys.stdout)
"""


def translated_migrations() -> dict[str, list[str]]:
    """Each bundled migration's cluster statements, translated in order as `migrate` does."""
    ddl = ClusterDDL(DATABASE, CLUSTER)
    return {
        f"{migration.version:04d}_{migration.name}": ddl.translate(migration.statements(DATABASE))
        for migration in bundled_migrations()
    }


def one_line(statement: str) -> str:
    return " ".join(statement.split())


def statements_about(statements: list[str], table: str) -> list[str]:
    """The statements that create `table` or its local table (on one line each)."""
    prefix = f"CREATE TABLE IF NOT EXISTS {DATABASE}."
    names = (f"{prefix}{table} ", f"{prefix}{table}_local ")
    return [one_line(statement) for statement in statements if one_line(statement).startswith(names)]


@pytest.fixture(scope="module")
def formatted() -> dict[str, tuple[bool, str]]:
    """Every translated statement (and the bootstrap's) with whether the engine parsed it, and its answer."""
    statements = [statement for found in translated_migrations().values() for statement in found]
    statements += ClusterDDL(DATABASE, CLUSTER).translate(
        [
            f"CREATE DATABASE IF NOT EXISTS {DATABASE}",
            f"CREATE TABLE IF NOT EXISTS {DATABASE}.schema_migrations (version UInt32, name String, "
            "checksum String, applied_at DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY version",
        ]
    )
    return format_queries(statements)


def format_queries(statements: list[str]) -> dict[str, tuple[bool, str]]:
    """Each statement with whether the engine parsed it and its answer (in a child process: chDB opens one path
    per process)."""
    done = subprocess.run(
        [sys.executable, "-c", _FORMAT_QUERIES],
        input=json.dumps(statements),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    answers = json.loads(done.stdout)
    return {statement: (ok, answer) for statement, (ok, answer) in zip(statements, answers, strict=True)}


@pytest.mark.parametrize("migration", sorted(translated_migrations()))
def test_every_statement_parses_with_the_engine(migration: str, formatted: dict[str, tuple[bool, str]]) -> None:
    statements = translated_migrations()[migration]
    assert statements
    for statement in statements:
        ok, answer = formatted[statement]
        assert ok, f"{migration}: the engine cannot parse {statement!r}: {answer}"
        if not statement.startswith("INSERT"):
            assert f"ON CLUSTER {CLUSTER}" in answer


def test_the_bootstrap_parses_with_the_engine(formatted: dict[str, tuple[bool, str]]) -> None:
    bootstrap = [statement for statement in formatted if "schema_migrations ON CLUSTER" in statement]
    assert len(bootstrap) == 1
    ok, answer = formatted[bootstrap[0]]
    assert ok, answer
    assert "ReplicatedMergeTree('/clickhouse/tables/all/ls/schema_migrations', '{shard}-{replica}')" in answer


def test_every_ddl_statement_runs_on_the_cluster() -> None:
    for migration, statements in translated_migrations().items():
        for statement in statements:
            if statement.startswith("INSERT"):
                assert "ON CLUSTER" not in statement  # INSERT has no ON CLUSTER: it goes through Distributed tables
            else:
                assert f" ON CLUSTER {CLUSTER}" in statement, f"{migration}: {statement}"


def test_learning_events_is_replicated_per_shard_and_distributed_by_event_id() -> None:
    local, distributed = statements_about(translated_migrations()["0001_learning_events"], "learning_events")
    assert local.startswith("CREATE TABLE IF NOT EXISTS ls.learning_events_local ON CLUSTER c1 ( event_id String,")
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ls/learning_events', '{replica}', "
        "ingested_at) PARTITION BY toYYYYMM(occurred_at) ORDER BY (source, toDate(occurred_at), event_id)"
    ) in local
    # the deduplication window the migration asked for, under the name a replicated table reads
    assert local.endswith("SETTINGS replicated_deduplication_window = 10000")
    assert distributed == (
        "CREATE TABLE IF NOT EXISTS ls.learning_events ON CLUSTER c1 AS ls.learning_events_local "
        "ENGINE = Distributed(c1, ls, learning_events_local, cityHash64(event_id))"
    )


@pytest.mark.parametrize("table", TREND_TABLES)
def test_trend_tables_and_their_staging_copies_are_distributed_at_random(table: str) -> None:
    statements = [statement for found in translated_migrations().values() for statement in found]
    local, distributed = statements_about(statements, table)
    engine = "ReplicatedMergeTree" if table == "team_activity" else "ReplicatedAggregatingMergeTree"
    assert f"ENGINE = {engine}('/clickhouse/tables/{{shard}}/ls/{table}', '{{replica}}') " in local
    assert distributed == (
        f"CREATE TABLE IF NOT EXISTS ls.{table} ON CLUSTER c1 AS ls.{table}_local "
        f"ENGINE = Distributed(c1, ls, {table}_local, rand())"
    )
    order_by = local[local.index(" PARTITION BY ") :]
    staging_local, staging_distributed = statements_about(statements, f"{table}_staging")
    assert staging_local == (
        f"CREATE TABLE IF NOT EXISTS ls.{table}_staging_local ON CLUSTER c1 AS ls.{table}_local "
        f"ENGINE = {engine}('/clickhouse/tables/{{shard}}/ls/{table}_staging', '{{replica}}')"
        f"{order_by}"
    )
    assert staging_distributed == (
        f"CREATE TABLE IF NOT EXISTS ls.{table}_staging ON CLUSTER c1 AS ls.{table}_staging_local "
        f"ENGINE = Distributed(c1, ls, {table}_staging_local, rand())"
    )


@pytest.mark.parametrize(
    ("table", "engine", "arguments"),
    [
        ("team_memberships", "ReplicatedReplacingMergeTree", ", record_at"),
        ("erased_people", "ReplicatedReplacingMergeTree", ", erased_at"),
        ("classifier_activations", "ReplicatedMergeTree", ""),
        ("rollup_log", "ReplicatedReplacingMergeTree", ", at"),
    ],
)
def test_small_tables_are_whole_on_every_node_under_their_own_name(table: str, engine: str, arguments: str) -> None:
    statements = [statement for found in translated_migrations().values() for statement in found]
    created = statements_about(statements, table)
    assert len(created) == 1  # no _local table, no Distributed table that would read each row once per shard
    assert created[0].startswith(f"CREATE TABLE IF NOT EXISTS ls.{table} ON CLUSTER c1 (")
    assert f"ENGINE = {engine}('/clickhouse/tables/all/ls/{table}', '{{shard}}-{{replica}}'{arguments})" in created[0]
    assert "{shard}/" not in created[0]
    assert not any(f"ls.{table}_local" in statement for statement in statements)


def test_the_old_materialized_view_writes_and_reads_local_tables() -> None:
    statements = translated_migrations()["0002_daily_trends"]
    view = next(one_line(statement) for statement in statements if "MATERIALIZED VIEW" in statement)
    assert view.startswith(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS ls.learning_events_daily_mv ON CLUSTER c1 "
        "TO ls.learning_events_daily_local AS SELECT"
    )
    assert "FROM ls.learning_events_local GROUP BY" in view


def test_views_read_the_distributed_tables() -> None:
    statements = translated_migrations()["0003_team_memberships"]
    views = [one_line(statement) for statement in statements if statement.startswith("CREATE VIEW")]
    assert [view.split(" AS ")[0] for view in views] == [
        "CREATE VIEW IF NOT EXISTS ls.current_team_memberships ON CLUSTER c1",
        "CREATE VIEW IF NOT EXISTS ls.learning_events_with_team ON CLUSTER c1",
    ]
    assert "FROM ls.learning_events AS e FINAL" in views[1]
    assert not any("_local" in view for view in views)


def test_drops_remove_the_distributed_and_the_local_table() -> None:
    assert cluster_statements(["DROP TABLE IF EXISTS ls.learning_events_daily"], DATABASE, CLUSTER) == [
        "DROP TABLE IF EXISTS ls.learning_events_daily ON CLUSTER c1 SYNC",
        "DROP TABLE IF EXISTS ls.learning_events_daily_local ON CLUSTER c1 SYNC",
    ]
    assert cluster_statements(["DROP VIEW IF EXISTS ls.learning_events_with_team"], DATABASE, CLUSTER) == [
        "DROP VIEW IF EXISTS ls.learning_events_with_team ON CLUSTER c1 SYNC"
    ]


def test_an_exchange_swaps_the_local_tables_and_rebuilds_the_distributed_ones() -> None:
    statements = cluster_statements(["EXCHANGE TABLES ls.learning_events AND ls.learning_events_next"], "ls", "c1")
    assert statements == [
        "EXCHANGE TABLES ls.learning_events_local AND ls.learning_events_next_local ON CLUSTER c1",
        "DROP TABLE IF EXISTS ls.learning_events ON CLUSTER c1 SYNC",
        "CREATE TABLE IF NOT EXISTS ls.learning_events ON CLUSTER c1 AS ls.learning_events_local "
        "ENGINE = Distributed(c1, ls, learning_events_local, cityHash64(event_id))",
        "DROP TABLE IF EXISTS ls.learning_events_next ON CLUSTER c1 SYNC",
        "CREATE TABLE IF NOT EXISTS ls.learning_events_next ON CLUSTER c1 AS ls.learning_events_next_local "
        "ENGINE = Distributed(c1, ls, learning_events_next_local, cityHash64(event_id))",
    ]
    in_migration = translated_migrations()["0004_events_by_id_and_trend_cells"]
    start = in_migration.index(statements[0])
    assert in_migration[start : start + len(statements)] == statements


def test_insert_select_goes_through_the_distributed_table_synchronously() -> None:
    insert = "INSERT INTO ls.learning_events_next (event_id, actor) SELECT event_id, actor FROM ls.learning_events"
    assert cluster_statements([insert], DATABASE, CLUSTER) == [
        "INSERT INTO ls.learning_events_next (event_id, actor) SETTINGS insert_distributed_sync = 1 "
        "SELECT event_id, actor FROM ls.learning_events"
    ]


def test_a_setting_changes_the_table_that_stores_the_rows() -> None:
    assert cluster_statements(
        ["ALTER TABLE ls.xapi_statements MODIFY SETTING merge_selector_base = 20"], DATABASE, CLUSTER
    ) == ["ALTER TABLE ls.xapi_statements ON CLUSTER c1 MODIFY SETTING merge_selector_base = 20"]
    assert cluster_statements(
        ["ALTER TABLE ls.learning_events MODIFY SETTING merge_selector_base = 20"], DATABASE, CLUSTER
    ) == ["ALTER TABLE ls.learning_events_local ON CLUSTER c1 MODIFY SETTING merge_selector_base = 20"]


def test_a_dropped_column_leaves_the_storage_and_the_distributed_table() -> None:
    assert cluster_statements(["ALTER TABLE ls.xapi_statements DROP COLUMN IF EXISTS h"], DATABASE, CLUSTER) == [
        "ALTER TABLE ls.xapi_statements ON CLUSTER c1 DROP COLUMN IF EXISTS h"
    ]
    assert cluster_statements(["ALTER TABLE ls.learning_events DROP COLUMN mood"], DATABASE, CLUSTER) == [
        "ALTER TABLE ls.learning_events_local ON CLUSTER c1 DROP COLUMN mood",
        "ALTER TABLE ls.learning_events ON CLUSTER c1 DROP COLUMN mood",
    ]


def test_the_database_is_created_on_the_cluster() -> None:
    assert cluster_statements(["CREATE DATABASE IF NOT EXISTS ls"], DATABASE, CLUSTER) == [
        "CREATE DATABASE IF NOT EXISTS ls ON CLUSTER c1"
    ]


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE ls.learning_events ADD COLUMN mood String",
        "TRUNCATE TABLE ls.activity_cells_staging",
        "OPTIMIZE TABLE ls.learning_events FINAL",
        "INSERT INTO ls.rollup_log VALUES (202401, 'marked', now64(3))",
        "CREATE TABLE IF NOT EXISTS ls.scratch (x String) ENGINE = Memory",
        "CREATE TABLE IF NOT EXISTS ls.brand_new (x String) ENGINE = MergeTree ORDER BY x",
        "CREATE TABLE IF NOT EXISTS ls.learning_events (x String) ENGINE = ReplicatedMergeTree ORDER BY x",
        "CREATE TABLE IF NOT EXISTS ls.activity_cells ENGINE = MergeTree ORDER BY x AS SELECT 1 AS x",
        "CREATE TABLE IF NOT EXISTS ls.activity_cells_staging AS ls.activity_cells",  # engine of the source unknown
        "CREATE MATERIALIZED VIEW ls.mv ENGINE = MergeTree ORDER BY x AS SELECT x FROM ls.learning_events",
        "CREATE VIEW IF NOT EXISTS ls.v ON CLUSTER other AS SELECT 1",
        "CREATE TABLE IF NOT EXISTS elsewhere.learning_events (x String) ENGINE = MergeTree ORDER BY x",
        "EXCHANGE TABLES ls.learning_events AND ls.activity_cells",
        "RENAME TABLE ls.learning_events TO ls.old_events",
        "ALTER TABLE ls.scratch MODIFY SETTING merge_selector_base = 20",
    ],
)
def test_an_unknown_statement_is_refused_naming_it(statement: str) -> None:
    with pytest.raises(MigrationError) as raised:
        cluster_statements([statement], DATABASE, CLUSTER)
    assert " ".join(statement.split())[:60] in str(raised.value)


def test_a_cluster_name_that_is_no_identifier_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="LEARNSTREAM_WAREHOUSE__CLUSTER"):
        cluster_statements(["CREATE DATABASE IF NOT EXISTS ls"], DATABASE, "c1; DROP DATABASE ls")


def test_local_table_names_the_table_holding_a_nodes_rows() -> None:
    assert local_table("activity_cells", None) == "activity_cells"
    assert local_table("activity_cells", CLUSTER) == "activity_cells_local"
    assert local_table("rollup_events_staging", CLUSTER) == "rollup_events_staging_local"
    assert local_table("rollup_log", CLUSTER) == "rollup_log"
    assert local_table("brand_new", None) == "brand_new"
    with pytest.raises(WarehouseError, match="brand_new"):
        local_table("brand_new", CLUSTER)


def test_every_bundled_table_has_a_cluster_layout() -> None:
    assert not set(SHARDING_KEYS) & REPLICATED_EVERYWHERE
    assert {"learning_events", *TREND_TABLES, *(f"{table}_staging" for table in TREND_TABLES)} <= set(SHARDING_KEYS)


@dataclass
class RecordingClient:
    """A clickhouse-connect client that records what it is asked and has no migration recorded."""

    commands: list[str] = field(default_factory=list)
    inserts: list[tuple[str, list[list[Any]]]] = field(default_factory=list)

    def command(self, sql: str) -> None:
        self.commands.append(sql)

    def query(self, sql: str) -> Any:
        return type("Result", (), {"result_rows": []})()

    def insert(self, table: str, rows: list[list[Any]], **_: Any) -> None:
        self.inserts.append((table, rows))


def test_embedded_mode_runs_the_migrations_unchanged() -> None:
    client = RecordingClient()
    applied = migrate(client, DATABASE)
    assert applied == bundled_migrations()
    expected = [statement for migration in bundled_migrations() for statement in migration.statements(DATABASE)]
    assert client.commands[0] == "CREATE DATABASE IF NOT EXISTS ls"
    assert client.commands[1].endswith("ENGINE = MergeTree ORDER BY version")
    assert client.commands[2:] == expected
    assert not any("ON CLUSTER" in command or "_local" in command for command in client.commands)


def test_cluster_mode_runs_the_translated_migrations() -> None:
    client = RecordingClient()
    applied = migrate(client, DATABASE, cluster=CLUSTER)
    assert applied == bundled_migrations()
    expected = [statement for found in translated_migrations().values() for statement in found]
    assert client.commands[0] == "CREATE DATABASE IF NOT EXISTS ls ON CLUSTER c1"
    assert client.commands[1].startswith("CREATE TABLE IF NOT EXISTS ls.schema_migrations ON CLUSTER c1 (")
    assert client.commands[2:] == expected
    assert [table for table, _ in client.inserts] == ["schema_migrations"] * len(applied)


def test_cluster_mode_refuses_an_unknown_statement_before_running_anything() -> None:
    client = RecordingClient()
    odd = Migration(version=1, name="odd", sql="ALTER TABLE {database}.learning_events ADD COLUMN mood String;")
    with pytest.raises(MigrationError, match=r"ALTER TABLE ls\.learning_events ADD COLUMN mood String"):
        migrate(client, DATABASE, [odd], cluster=CLUSTER)
    assert client.commands == []


def test_the_rebuild_and_erasure_statements_of_cluster_mode_parse_and_name_local_tables() -> None:
    from warehouse.erasure import erasure_statements
    from warehouse.rollup import (
        CELL_TABLES,
        CELLS,
        GRAINS,
        RETAINED,
        STAGING_TABLES,
        day_cells_sql,
        events_staging_sql,
        materialize_ttl_sql,
        period_cells_sql,
        retention_sql,
        summary_cells_sql,
        swap_sql,
        truncate_sql,
    )

    statements = [truncate_sql(DATABASE, table, CLUSTER) for table in STAGING_TABLES]
    statements += [
        swap_sql(DATABASE, table, date(2024, 3, 4), CLUSTER, empty, grain)
        for table in CELL_TABLES
        for empty in (False, True)
        for grain in GRAINS
    ]
    built = [table for table in CELL_TABLES if CELLS[table].summarises is None]
    summaries = [table for table in CELL_TABLES if CELLS[table].summarises is not None]
    statements += [events_staging_sql(DATABASE)] + [day_cells_sql(DATABASE, table) for table in built]
    statements += [period_cells_sql(DATABASE, table, grain) for table in built for grain in ("week", "month")]
    statements += [summary_cells_sql(DATABASE, table) for table in summaries]
    statements += [retention_sql(DATABASE, table, 30, CLUSTER) for table in RETAINED]
    statements += [materialize_ttl_sql(DATABASE, table, CLUSTER) for table in RETAINED]
    statements += erasure_statements(DATABASE, CLUSTER)
    for statement, (ok, answer) in format_queries(statements).items():
        assert ok, f"the engine cannot parse {statement!r}: {answer}"
        if statement.startswith(("ALTER", "TRUNCATE")):
            assert f"ON CLUSTER {CLUSTER}" in answer
    swap = swap_sql(DATABASE, "activity_cells", date(2024, 3, 5), CLUSTER)
    assert swap == (
        f"ALTER TABLE {DATABASE}.activity_cells_local ON CLUSTER {CLUSTER} "
        f"REPLACE PARTITION ('day', '2024-03-05') FROM {DATABASE}.activity_cells_staging_local"
    )
    erasure = erasure_statements(DATABASE, CLUSTER)
    assert "team_memberships ON CLUSTER" in erasure[4]  # whole on every node
    assert f"{DATABASE}.xapi_statements ON CLUSTER" in erasure[1] and "xapi_attachments ON CLUSTER" in erasure[0]
    assert swap_sql(DATABASE, "activity_cells", date(2024, 3, 4), grain="week") == (
        f"ALTER TABLE {DATABASE}.activity_cells REPLACE PARTITION ('week', '2024-03-04') "
        f"FROM {DATABASE}.activity_cells_staging"
    )
