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
    from warehouse.preparation import prepare_warehouse
    from warehouse.service import configured_version

    current = settings()
    target = parse_dsn(current.warehouse_dsn)
    client = connect(target)
    prepared = prepare_warehouse(client, target.database, current, configured_version(current))
    applied = prepared.applied
    for migration in applied:
        click.echo(f"applied {migration.version:04d}_{migration.name}")
    if prepared.retained:
        click.echo(f"retention of {len(prepared.retained)} tables set to {current.warehouse.retention_days} days")
    click.echo(f"warehouse {target.describe()} is up to date ({len(applied)} applied now)")


@warehouse.command("counts")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of the lines.")
@click.option("--ids", is_flag=True, help="With --json: also every stored event id.")
@reports_errors
def warehouse_counts(as_json: bool, ids: bool) -> None:
    """Exact figures of the stored learning events by id, for checking the pipeline (operator counts: no
    suppression, and they name no one): rows, current events, distinct ids, and ids stored more than once, which
    must be 0. Through the serve that owns the embedded warehouse while it runs."""
    import json

    from warehouse.connection import connect
    from warehouse.counts import EventIdCounts, event_id_counts
    from warehouse.dsn import parse_dsn
    from warehouse.remote import remote_counts
    from warehouse.service import served_url

    current = settings()
    target = parse_dsn(current.warehouse_dsn)
    url = served_url(target)
    if url is not None:
        found = EventIdCounts.from_dict(remote_counts(current, url, with_ids=ids and as_json))
    else:
        client = connect(target)
        try:
            found = event_id_counts(client, target.database, with_ids=ids and as_json)
        finally:
            client.close()
    if as_json:
        click.echo(json.dumps(found.as_dict()))
        return
    click.echo(
        f"learning_events: {found.rows:,} rows, {found.events:,} current events, {found.event_ids:,} distinct event "
        f"ids, {found.stored_twice:,} stored more than once" + (" (through serve)" if url else "")
    )


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
    click.echo(f"loaded the changed team memberships of {people} people into {target.describe()}")


@warehouse.command("rebuild")
@click.option("--all", "every_month", is_flag=True, help="Rebuild every day with events, not only those due.")
@reports_errors
def warehouse_rebuild(every_month: bool) -> None:
    """Rebuild the trend tables of the days whose events changed (the loader does so every
    LEARNSTREAM_WAREHOUSE__ROLLUP_INTERVAL_S and when it stops)."""
    from warehouse.connection import connect
    from warehouse.dsn import parse_dsn
    from warehouse.rollup import days_of, mark_days, rebuild_due

    current = settings()
    target = parse_dsn(current.warehouse_dsn)
    client = connect(target)
    if every_month:
        mark_days(client, target.database, days_of(client, target.database, "1", {}))
    report = rebuild_due(client, target.database, current.warehouse.cluster)
    click.echo(f"rebuilt {len(report.days)} day(s) from {report.events} events in {report.seconds:.1f} s")


@warehouse.command("versions")
@reports_errors
def warehouse_versions() -> None:
    """List the classifier versions with stored events, and the one the trend queries read."""
    from warehouse.connection import connect
    from warehouse.dsn import parse_dsn
    from warehouse.service import configured_version
    from warehouse.versions import active_version, stored_versions

    current = settings()
    target = parse_dsn(current.warehouse_dsn)
    client = connect(target)
    configured = configured_version(current)
    active = active_version(client, target.database, configured)
    for version, events, newest in stored_versions(client, target.database):
        marker = "*" if version == active else " "
        click.echo(f"{marker} {version:32} {events:>12,} events  newest {newest:%Y-%m-%d %H:%M:%S}")
    click.echo(f"trend queries read {active}" + (" (the configured classifier's)" if active == configured else ""))


@warehouse.command("activate")
@click.argument("version")
@reports_errors
def warehouse_activate(version: str) -> None:
    """Make every trend query read classifier VERSION (after `learnstream reprocess` stored it)."""
    from warehouse.connection import connect
    from warehouse.dsn import parse_dsn
    from warehouse.versions import activate

    target = parse_dsn(settings().warehouse_dsn)
    activate(connect(target), target.database, version)
    click.echo(f"trend queries now read classifier version {version}")
