"""`learnstream erase`: remove everything of one person from the warehouse, for good."""

from __future__ import annotations

import re

import click

from cli.common import reports_errors, settings


@click.command()
@click.option("--person", "person_id", default=None, help="The person's id in the people directory (HR id).")
@click.option("--pseudonym", default=None, help="The pseudonym itself (p_ and 24 hex digits), e.g. from a request.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@reports_errors
def erase(person_id: str | None, pseudonym: str | None, yes: bool) -> None:
    """Erase one person from every warehouse table and record a tombstone that the loader and reprocessing honour.

    --person is pseudonymised with LEARNSTREAM_PSEUDONYM_KEY exactly as the connectors do, so no raw id is stored.
    Every trend figure reflects the erasure when this returns. What Kafka still holds: see the README."""
    from learnstream.errors import UsageError
    from producers.pseudonymise import person_pseudonym
    from schemas.activity import PSEUDONYM_RE
    from warehouse.connection import connect
    from warehouse.dsn import parse_dsn
    from warehouse.erasure import erase_person
    from warehouse.migrations import migrate
    from warehouse.remote import remote_erase
    from warehouse.service import served_url

    if (person_id is None) == (pseudonym is None):
        raise UsageError("name the person with exactly one of --person ID or --pseudonym P")
    current = settings()
    if person_id is not None:
        pseudonym = person_pseudonym(current.pseudonym_key.get_secret_value().encode("utf-8"), person_id)
    assert pseudonym is not None
    if not re.fullmatch(PSEUDONYM_RE, pseudonym):
        raise UsageError(f"{pseudonym!r} is not a pseudonym (p_ and 24 hex digits)")
    target = parse_dsn(current.warehouse_dsn)
    if not yes:
        click.confirm(f"erase {pseudonym} from {target.describe()} for good?", abort=True)
    url = served_url(target)
    if url is not None:
        done = remote_erase(current, url, pseudonym)
    else:
        client = connect(target)
        migrate(client, target.database, cluster=current.warehouse.cluster)
        report = erase_person(client, target.database, pseudonym, current.warehouse.cluster)
        done = report.as_dict()
    click.echo(
        f"erased {pseudonym}{' (through serve)' if url else ''}: {done['events_deleted']} events deleted, "
        f"{done['counterpart_cleared']} references as counterpart cleared, {done['memberships_deleted']} team "
        f"memberships deleted, {done.get('statements_deleted', 0)} xAPI Statements deleted; "
        f"{len(done['days_rebuilt'])} day(s) of trend figures rebuilt in "
        f"{done['seconds']:.1f} s"
    )
