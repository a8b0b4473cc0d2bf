"""`learnstream topics …`: the pipeline's Kafka topics."""

from __future__ import annotations

import click

from cli.common import reports_errors, settings


@click.group()
def topics() -> None:
    """Kafka topics of the pipeline."""


@topics.command("create")
@reports_errors
def topics_create() -> None:
    """Create the pipeline's topics if they are missing: activities, dead letters, learning events, the directory,
    connector cursors and the receivers' pending notifications."""
    from learnstream.kafka import ensure_topics

    current = settings()
    created = ensure_topics(current.kafka, current.topics)
    for name in current.topics.names.all():
        click.echo(f"{name}: {'created' if name in created else 'exists'}")
