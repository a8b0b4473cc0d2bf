"""The warehouse benchmark's pure parts: its simulated directory is not uniform, and it asks what the CLI asks."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, timedelta

import pytest

from bench.warehouse import (
    DAYS,
    DEFAULT_WEEKS,
    DEPARTMENTS,
    DIRECTORY_PEOPLE,
    FIRST_DAY,
    default_filters,
    filtered,
    organisation,
    percentile,
    pseudonym,
    weighted_sql,
)
from schemas.activity import PSEUDONYM_RE
from warehouse.queries import QUERIES, Granularity


def test_percentile_is_nearest_rank() -> None:
    samples = [float(value) for value in range(1, 21)]  # 1..20
    assert percentile(samples, 0.5) == 10.0
    assert percentile(samples, 0.95) == 19.0
    assert percentile(list(reversed(samples)), 1.0) == 20.0
    assert percentile([7.0], 0.95) == 7.0
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_weighted_sql_bounds_add_up_to_one() -> None:
    sql = weighted_sql("u", [("a", 1.0), ("b", 1.0), ("c", 2.0)])
    assert sql == "multiIf(u < 0.250000, 'a', u < 0.500000, 'b', 'c')"
    assert weighted_sql("u", [(3, 1.0)]) == "3"


def test_the_organisation_is_varied_and_moves() -> None:
    org = organisation(seed=9)
    assert len(org.team_sizes) == sum(DEPARTMENTS.values())
    assert sum(org.team_sizes.values()) == DIRECTORY_PEOPLE
    assert max(org.team_sizes.values()) >= 4 * min(org.team_sizes.values())
    assert set(org.departments.values()) == set(DEPARTMENTS)
    per_person = Counter(membership.person for membership in org.memberships)
    assert len(per_person) == DIRECTORY_PEOPLE
    movers = [person for person, count in per_person.items() if count == 2]
    assert 0.03 * DIRECTORY_PEOPLE < len(movers) < 0.1 * DIRECTORY_PEOPLE
    last_day = FIRST_DAY + timedelta(days=DAYS)
    moves = [m for m in org.memberships if m.person in set(movers) and m.valid_from >= FIRST_DAY]
    assert moves and all(m.valid_from < last_day for m in moves)
    assert all(m.department == org.departments[m.team] for m in org.memberships)
    assert org.largest_team == max(org.team_sizes, key=org.team_sizes.__getitem__)


def test_pseudonyms_are_valid_and_distinct() -> None:
    names = {pseudonym(person) for person in range(1000)}
    assert len(names) == 1000
    assert all(re.match(PSEUDONYM_RE, name) for name in names)


def test_default_filters_are_the_clis_last_twelve_weeks() -> None:
    newest = date(2026, 11, 30)  # a Monday
    filters = default_filters(newest)
    aligned = filters.aligned()
    assert filters.granularity is Granularity.WEEK and filters.until == newest
    assert aligned.since.weekday() == 0
    assert (aligned.until - aligned.since).days + 1 == 7 * DEFAULT_WEEKS


def test_filtered_variant_only_sets_what_a_query_takes() -> None:
    base = default_filters(date(2026, 11, 30))
    for query in QUERIES.values():
        narrowed = filtered(base, query.filters, "eng-01", "slack", "kafka")
        assert set(narrowed.named()) == set(query.filters) - {"department"}
    partial = filtered(base, {"team", "source"}, "eng-01", "slack", "kafka")
    assert partial.topics == () and partial.teams == ("eng-01",) and partial.sources == ("slack",)
