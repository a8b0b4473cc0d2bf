"""`learnstream warehouse …`: the ClickHouse warehouse."""

from __future__ import annotations

import click

from cli.common import reports_errors, settings


@click.group()
def warehouse() -> None:
    """The ClickHouse warehouse."""


@warehouse.command("migrate")
@reports_errors
def warehouse_migrate() -> None:
    """Apply the DDL migrations not yet recorded in the warehouse (safe to run again)."""
    from warehouse.connection import connect
    from warehouse.dsn import parse_dsn
    from warehouse.migrations import migrate

    current = settings()
    target = parse_dsn(current.warehouse_dsn)
    applied = migrate(connect(target), target.database, cluster=current.warehouse.cluster)
    for migration in applied:
        click.echo(f"applied {migration.version:04d}_{migration.name}")
    click.echo(f"warehouse {target.describe()} is up to date ({len(applied)} applied now)")


@warehouse.command("load-directory")
@reports_errors
def warehouse_load_directory() -> None:
    """Load the people directory (the <ns>.directory topic) into the team_memberships dimension now (the loader
    also does so when it starts and every LEARNSTREAM_LOADER__DIRECTORY_REFRESH_S)."""
    from learnstream.kafka import check_broker
    from warehouse.connection import connect
    from warehouse.directory import load_directory
    from warehouse.dsn import parse_dsn
    from warehouse.migrations import migrate

    current = settings()
    target = parse_dsn(current.warehouse_dsn)
    client = connect(target)
    check_broker(current.kafka)
    migrate(client, target.database, cluster=current.warehouse.cluster)
    people = load_directory(current.kafka, current.topics.names.directory, client, target.database)
    click.echo(f"loaded the team memberships of {people} people into {target.describe()}")
