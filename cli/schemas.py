"""`learnstream schemas …`: the data contracts as JSON Schema."""

from __future__ import annotations

from pathlib import Path

import click

from cli.common import reports_errors


@click.group()
def schemas() -> None:
    """Data contracts."""


@schemas.command("export")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("schemas/json"), show_default=True)
@reports_errors
def schemas_export(out_dir: Path) -> None:
    """Write the JSON Schema of every contract (Activity, LearningEvent, DeadLetter, DirectoryRecord)."""
    from schemas.json_schema import write_json_schemas

    for path in write_json_schemas(out_dir):
        click.echo(f"wrote {path}")
