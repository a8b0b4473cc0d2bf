"""Trend requests as parameters: the same names on the command line and in a URL, parsed in one place. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from learnstream.errors import BadParameter
from warehouse.queries import Filters, Granularity, period_start, previous_period

#: Periods shown without `since`, by granularity.
DEFAULT_PERIODS: dict[Granularity, int] = {
    Granularity.DAY: 30,
    Granularity.WEEK: 12,
    Granularity.MONTH: 12,
    Granularity.QUARTER: 8,
}
LISTS = {"team": "teams", "department": "departments", "topic": "topics", "source": "sources"}
KNOWN = {"since", "until", "last", "granularity", "format", "classifier_version", *LISTS}


def default_since(until: date, granularity: Granularity, last: int | None) -> date:
    """The first day of the `last` periods ending with the one holding `until`."""
    first = period_start(until, granularity)
    for _ in range((last or DEFAULT_PERIODS[granularity]) - 1):
        first = previous_period(first, granularity)
    return first


def _one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name) or []
    if len(values) > 1:
        raise BadParameter(name, "give it once")
    return values[0] if values else None


def _day(params: Mapping[str, Sequence[str]], name: str) -> date | None:
    value = _one(params, name)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadParameter(name, f"{value!r} is not a date (YYYY-MM-DD)") from None


def parse_filters(params: Mapping[str, Sequence[str]], today: date) -> Filters:
    """Filters from request parameters (each a list of values); a bad or unknown one is a BadParameter naming it."""
    unknown = sorted(set(params) - KNOWN)
    if unknown:
        raise BadParameter(unknown[0], f"unknown; the parameters are {', '.join(sorted(KNOWN))}")
    granularity_text = _one(params, "granularity") or Granularity.WEEK.value
    try:
        granularity = Granularity(granularity_text)
    except ValueError:
        choices = ", ".join(item.value for item in Granularity)
        raise BadParameter("granularity", f"{granularity_text!r} is not one of {choices}") from None
    last_text = _one(params, "last")
    last = None
    if last_text is not None:
        if not last_text.isdigit() or int(last_text) < 1:
            raise BadParameter("last", f"{last_text!r} is not a positive number of periods")
        last = int(last_text)
    until = _day(params, "until") or today
    since = _day(params, "since") or default_since(until, granularity, last)
    lists = {field: tuple(params.get(name) or ()) for name, field in LISTS.items()}
    for name, field in LISTS.items():
        if any(not value for value in lists[field]):
            raise BadParameter(name, "empty value")
    return Filters(since, until, granularity, **lists)


def filter_params(filters: Filters) -> list[tuple[str, str]]:
    """The parameters that ask for exactly these filters (what the CLI sends to serve)."""
    params = [
        ("since", filters.since.isoformat()),
        ("until", filters.until.isoformat()),
        ("granularity", filters.granularity.value),
    ]
    for name, field in LISTS.items():
        params.extend((name, value) for value in getattr(filters, field))
    return params
