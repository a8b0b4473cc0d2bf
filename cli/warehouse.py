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

    target = parse_dsn(settings().warehouse_dsn)
    applied = migrate(connect(target), target.database)
    for migration in applied:
        click.echo(f"applied {migration.version:04d}_{migration.name}")
    click.echo(f"warehouse {target.describe()} is up to date ({len(applied)} applied now)")
