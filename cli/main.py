"""`learnstream …`: one module per command group; each parses, builds a component from settings and maps errors
to exit codes (`cli/common.py`). This module only assembles them."""

from __future__ import annotations

import click

from cli.common import reports_errors
from cli.connect import connect
from cli.dlq import dlq
from cli.erase import erase
from cli.evaluate import evaluate
from cli.explain import explain
from cli.pipeline import loader, replay, worker
from cli.reprocess import reprocess
from cli.sample import sample
from cli.schemas import schemas
from cli.serve import serve
from cli.simulate import simulate
from cli.status import status
from cli.topics import topics
from cli.trends import trends
from cli.warehouse import warehouse
from learnstream.logs import configure_logging


@click.group()
@click.option("--log-level", default="info", show_default=True, help="debug, info, warning or error")
@click.pass_context
def cli(context: click.Context, log_level: str) -> None:
    """learnstream: informal learning at work, from collaboration activity to trend tables."""
    reports_errors(configure_logging)(log_level)
    context.obj = log_level


for command in (
    topics,
    warehouse,
    schemas,
    sample,
    replay,
    worker,
    loader,
    trends,
    erase,
    connect,
    serve,
    simulate,
    explain,
    evaluate,
    reprocess,
    status,
    dlq,
):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    cli()


if __name__ == "__main__":
    main()
