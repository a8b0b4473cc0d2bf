"""`learnstream reprocess`: the raw topic decided again with the current classifier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from cli.common import reports_errors, settings


@click.command()
@click.option(
    "--from",
    "since",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]),
    default=None,
    help="Decide again the raw records written at or after this time (UTC unless it names a zone).",
)
@click.option("--from-offset", type=click.IntRange(0), default=None, help="... or from this offset of every partition.")
@click.option(
    "--warmup-days",
    type=click.FloatRange(0),
    default=None,
    help="How far before the first record to read for the thread memory (default: the thread retention).",
)
@reports_errors
def reprocess(since: datetime | None, from_offset: int | None, warmup_days: float | None) -> None:
    """Read the raw topic again and write learning events of the current classifier version: from --from or
    --from-offset to the end the topic had when the reprocess began, after reading the records before it (as far back
    as the thread retention) to warm the thread memory, so answers find their questions. Idempotent: running it
    again writes the same events. The raw topic's retention bounds how far back it can go."""
    from learnstream.kafka import check_broker
    from learnstream.progress import Progress, progress_enabled
    from streams.classify import load_classifier
    from streams.reprocess import plan_from_offset, plan_from_time, run_reprocess

    if (since is None) == (from_offset is None):
        raise click.UsageError("give exactly one of --from and --from-offset")
    current = settings()
    check_broker(current.kafka)
    classifier = load_classifier(current.classifier.vocabulary_files)
    warmup = (
        timedelta(days=warmup_days)
        if warmup_days is not None
        else timedelta(milliseconds=current.topics.thread_retention_ms)
    )
    if since is not None:
        plan = plan_from_time(current, since if since.tzinfo else since.replace(tzinfo=UTC), warmup)
    else:
        assert from_offset is not None
        plan = plan_from_offset(current, from_offset, warmup)
    # on stderr, from here on only: the errors before (a usage error, no broker) stay one line
    with Progress("reprocess", total=plan.records_to_read, enabled=progress_enabled(current.progress)) as progress:
        stats = run_reprocess(current, plan, classifier, progress)
    categories = ", ".join(f"{name} {count:,}" for name, count in sorted(stats.categories.items())) or "none"
    click.echo(
        f"reprocessed {current.topics.names.activity_raw} with classifier {classifier.version}: {stats.decided:,} "
        f"events written ({categories}), {stats.warmed:,} earlier records read for the thread memory, "
        f"{stats.skipped:,} invalid records skipped"
    )
    ends = ", ".join(f"{partition}:{offset}" for partition, offset in sorted(plan.end.items()))
    click.echo(f"caught up to the end offsets the topic had when the reprocess began ({ends})")
