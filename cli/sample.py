"""`learnstream sample …`: the bundled sample of real recorded activity."""

from __future__ import annotations

from pathlib import Path

import click

from cli.common import reports_errors, settings


@click.group()
def sample() -> None:
    """The bundled sample of real recorded activity."""


@sample.command("build")
@click.option("--data-dir", type=click.Path(path_type=Path, exists=True), default=Path("../shared/data"))
@click.option("--out", type=click.Path(path_type=Path), default=Path("samples/activities.jsonl"), show_default=True)
@reports_errors
def sample_build(data_dir: Path, out: Path) -> None:
    """Build the sample JSONL from the recordings in shared/data (Slack export, Wikimedia, xAPI)."""
    from producers.samples import build_sample, write_jsonl

    current = settings()
    keys = (current.pseudonym_key.get_secret_value().encode("utf-8"), current.id_key.get_secret_value().encode("utf-8"))
    activities = build_sample(data_dir, *keys)
    write_jsonl(activities, out)
    click.echo(f"wrote {len(activities)} activities to {out}")
