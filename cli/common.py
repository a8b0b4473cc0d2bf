"""What every command shares: settings, and errors mapped to one clear line and an exit code."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click

from learnstream.errors import LearnstreamError
from learnstream.settings import Settings, load_settings

P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a LearnstreamError into one clear line on stderr and its exit code, instead of a traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except LearnstreamError as exc:
            click.echo(f"learnstream: error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return run


def settings() -> Settings:
    """The settings from the environment (a ConfigError names the variable to fix)."""
    return load_settings()
