"""The named trend queries: one library, read by the CLI (and later the HTTP API), never SQL from user strings.

Every query reads the trend tables (rebuilt from the current events by warehouse/rollup.py) of one classifier
version only, over a calendar-aligned range, with the same filters: team, department, topic, source, time range
and granularity. Filter values are bound as query parameters; only fragments written here are joined into SQL.
Each query returns `privacy.Row`s whose every measure names the distinct people behind it; `run_trend` withholds
what counts fewer than k (warehouse/privacy.py) before anything leaves this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError

from learnstream.collection import collection_paused
from learnstream.errors import BadParameter, UsageError, WarehouseError
from schemas.taxonomy import FORMAL_CATEGORIES
from warehouse.dsn import check_identifier
from warehouse.privacy import TOTAL, Row, suppress
from warehouse.rollup import ALL_CATEGORIES, ALL_TOPICS, ANY_PAGE, FLOW_PEOPLE_CAP, engine_message

#: How a team or department the directory does not know is shown (and can be asked for in a filter).
UNRESOLVED = "(unresolved)"
FORMAL = tuple(sorted(category.value for category in FORMAL_CATEGORIES))
#: Ranked queries (pages, topics) release at most this many rows.
TOP = 50


class Granularity(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"


PERIOD_SQL: dict[Granularity, str] = {
    Granularity.DAY: "day",
    Granularity.WEEK: "toMonday(day)",
    Granularity.MONTH: "toStartOfMonth(day)",
    Granularity.QUARTER: "toStartOfQuarter(day)",
}


def period_start(day: date, granularity: Granularity) -> date:
    """The first day of the period holding `day` (weeks start on Monday)."""
    if granularity is Granularity.DAY:
        return day
    if granularity is Granularity.WEEK:
        return day - timedelta(days=day.weekday())
    if granularity is Granularity.MONTH:
        return day.replace(day=1)
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def next_period(start: date, granularity: Granularity) -> date:
    """The first day of the period after the one starting at `start`."""
    if granularity is Granularity.DAY:
        return start + timedelta(days=1)
    if granularity is Granularity.WEEK:
        return start + timedelta(days=7)
    months = 1 if granularity is Granularity.MONTH else 3
    month = start.month - 1 + months
    return date(start.year + month // 12, month % 12 + 1, 1)


def previous_period(start: date, granularity: Granularity) -> date:
    """The first day of the period before the one starting at `start`."""
    return period_start(start - timedelta(days=1), granularity)


def periods(since: date, until: date, granularity: Granularity) -> list[date]:
    """The starts of every period from the one holding `since` to the one holding `until`."""
    starts: list[date] = []
    current = period_start(since, granularity)
    while current <= until:
        starts.append(current)
        current = next_period(current, granularity)
    return starts


@dataclass(frozen=True)
class Filters:
    """What a query is asked for. `aligned()` widens the range to whole periods."""

    since: date
    until: date
    granularity: Granularity = Granularity.WEEK
    teams: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    def aligned(self) -> Filters:
        if self.since > self.until:
            raise BadParameter("since", f"the range starts ({self.since}) after it ends ({self.until})")
        last = next_period(period_start(self.until, self.granularity), self.granularity) - timedelta(days=1)
        return replace(self, since=period_start(self.since, self.granularity), until=last)

    def named(self) -> dict[str, tuple[str, ...]]:
        """The set filters by name."""
        given = {"team": self.teams, "department": self.departments, "topic": self.topics, "source": self.sources}
        return {name: values for name, values in given.items() if values}


def stored_label(value: str) -> str:
    """A filter value as stored: the unresolved label is the empty string."""
    return "" if value == UNRESOLVED else value


def shown_label(value: str) -> str:
    """A stored team or department as shown."""
    return value or UNRESOLVED


@dataclass(frozen=True)
class Scope:
    """The SQL of a query's WHERE: version, range and filters, with their parameters."""

    sql: str
    parameters: dict[str, Any]


#: The rows a granularity reads: weeks from week rows, months and quarters from month rows.
GRAIN: dict[Granularity, str] = {
    Granularity.DAY: "day",
    Granularity.WEEK: "week",
    Granularity.MONTH: "month",
    Granularity.QUARTER: "month",
}


def scope(
    version: str,
    filters: Filters,
    columns: Mapping[str, Sequence[str]],
    query: str,
    since: date | None = None,
    all_topics: bool = False,
) -> Scope:
    """The WHERE clause for a trend table: version, grain, range and filters. `columns` maps each filter the query
    supports to the column(s) it matches (a team filter on knowledge flow matches either side); any other filter
    set is refused. With `all_topics` (a table whose rows of topic '*' count every event once), no topic filter
    reads those rows."""
    clauses = [
        "classifier_version = {version:String}",
        "grain = {grain:String}",
        "day >= {since:Date}",
        "day <= {until:Date}",
    ]
    parameters: dict[str, Any] = {
        "version": version,
        "grain": GRAIN[filters.granularity],
        "since": since or filters.since,
        "until": filters.until,
    }
    if all_topics and not filters.topics:
        clauses.append("topic = {all_topics:String}")
        parameters["all_topics"] = ALL_TOPICS
    for name, values in filters.named().items():
        if name not in columns:
            raise BadParameter(name, f"the {query} query cannot be filtered by {name}")
        parameters[name] = [stored_label(value) for value in values]
        matches = [f"{column} IN {{{name}:Array(String)}}" for column in columns[name]]
        clauses.append(matches[0] if len(matches) == 1 else "(" + " OR ".join(matches) + ")")
    return Scope(" AND ".join(clauses), parameters)


#: A query's SQL and rows: (client, database, classifier version, aligned filters, k). Suppression comes after;
#: k only lets a runner read a table that counts people up to a cap (team_flow) when that cap tells k apart.
Runner = Callable[[Any, str, str, Filters, int], list[Row]]
#: The columns of the filters on the tables whose rows carry a team, department, topic and source.
EVERY_FILTER: Mapping[str, Sequence[str]] = {
    "team": ["team"],
    "department": ["department"],
    "source": ["source"],
    "topic": ["topic"],
}


def activity_table(filters: Filters) -> str:
    """activity_cells, or topic_cells (one row per topic of an event) when topics are asked for."""
    return "topic_cells" if filters.topics else "activity_cells"


def by_team_only(filters: Filters) -> bool:
    """Whether the team summaries (team_activity, team_flow) answer: no filter but teams, and a granularity whose
    rows they hold (a quarter merges month rows)."""
    return not (filters.departments or filters.sources or filters.topics) and filters.granularity in (
        Granularity.DAY,
        Granularity.WEEK,
        Granularity.MONTH,
    )


@dataclass(frozen=True)
class TrendQuery:
    """One named query: what it answers, its filters, dimensions and measures, and how it runs."""

    name: str
    title: str
    filters: frozenset[str]
    dims: tuple[str, ...]
    measures: tuple[str, ...]
    run: Runner
    #: measures that add up over a family to its total row (they get complementary suppression)
    additive: tuple[str, ...] = ()
    #: measures computed from released figures only, after suppression (period-over-period change)
    derived: Callable[[list[Row], Filters], list[Row]] | None = None


@dataclass
class TrendResult:
    """A query's answer, suppressed."""

    query: TrendQuery
    filters: Filters
    classifier_version: str
    min_group_size: int
    rows: list[Row] = field(default_factory=list)


def _query(client: Any, sql: str, parameters: dict[str, Any]) -> list[tuple[Any, ...]]:
    try:
        return [tuple(row) for row in client.query(sql, parameters=parameters).result_rows]
    except ClickHouseError as exc:
        raise WarehouseError(
            f"a trend query failed: {engine_message(exc)}; run `learnstream warehouse migrate` first"
        ) from exc


# --- the queries ------------------------------------------------------------------------------------------------


def activity(client: Any, db: str, version: str, filters: Filters, k: int) -> list[Row]:
    """Learning events (not `none`) by period, team and category, with each team's total per period. With a topic
    filter, the events tagged with those topics."""
    earlier = previous_period(filters.since, filters.granularity)  # for the first period's change
    if by_team_only(filters):
        where = scope(version, filters, {"team": ["team"]}, "activity", since=earlier)
        where.parameters["all"] = ALL_CATEGORIES
        summary_sql = f"""
SELECT toString(day) AS period, team, category, category = {{all:String}} AS is_total, events, people
FROM {db}.team_activity
WHERE {where.sql}
ORDER BY period, team, is_total, category"""
        return activity_rows(_query(client, summary_sql, where.parameters))
    table = activity_table(filters)
    where = scope(version, filters, EVERY_FILTER, "activity", since=earlier)
    sql = f"""
SELECT toString({PERIOD_SQL[filters.granularity]}) AS period, team, category, grouping(category) AS is_total,
    sum(events), uniqExactMerge(people)
FROM {db}.{table}
WHERE {where.sql} AND category != 'none'
GROUP BY GROUPING SETS ((period, team, category), (period, team))
ORDER BY period, team, is_total, category"""
    return activity_rows(_query(client, sql, where.parameters))


def activity_rows(found: list[tuple[Any, ...]]) -> list[Row]:
    """Rows of (period, team, category, is_total, events, people): each team's total row heads its family."""
    return [
        Row(
            {"period": period, "team": team or UNRESOLVED, "category": TOTAL if is_total else category},
            {"events": events},
            {"events": people},
            (period, team),
            bool(is_total),
        )
        for period, team, category, is_total, events, people in found
    ]


def period_change(rows: list[Row], filters: Filters) -> list[Row]:
    """Add each row's change in events against the same row one period earlier (both released), then drop the
    period before the range that was read only for this."""
    previous: dict[str, str] = {}  # each period's predecessor, worked out once per period
    events: dict[tuple[str, ...], int | float | None] = {}
    keys: list[tuple[str, ...]] = []
    for row in rows:
        key = tuple(row.dims.values())  # the period first, as every query with a change puts it
        keys.append(key)
        events[key] = row.values.get("events")
        period = key[0]
        if period not in previous:
            previous[period] = previous_period(date.fromisoformat(period), filters.granularity).isoformat()
    first = filters.since.isoformat()
    kept: list[Row] = []
    for row, key in zip(rows, keys, strict=True):
        if key[0] < first:
            continue
        now, then = events[key], events.get((previous[key[0]], *key[1:]))
        if now is None or then is None:
            row.values["change"] = row.values["change_pct"] = None
        else:
            row.values["change"] = int(now) - int(then)
            row.values["change_pct"] = round(100.0 * (int(now) - int(then)) / int(then), 1) if then else None
        kept.append(row)
    return kept


def formal_ratio(client: Any, db: str, version: str, filters: Filters, k: int) -> list[Row]:
    """Formal (courses, e-learning) against informal learning events by period and team."""
    where = scope(version, filters, EVERY_FILTER, "formal-ratio")
    where.parameters["formal"] = list(FORMAL)
    sql = f"""
SELECT toString({PERIOD_SQL[filters.granularity]}) AS period, team,
    sumIf(events, category IN {{formal:Array(String)}}), uniqExactMergeIf(people, category IN {{formal:Array(String)}}),
    sumIf(events, category NOT IN {{formal:Array(String)}}),
    uniqExactMergeIf(people, category NOT IN {{formal:Array(String)}})
FROM {db}.{activity_table(filters)}
WHERE {where.sql} AND category != 'none'
GROUP BY period, team
ORDER BY period, team"""
    rows = []
    for period, team, formal, formal_people, informal, informal_people in _query(client, sql, where.parameters):
        values: dict[str, float | int | None] = {"formal_events": int(formal), "informal_events": int(informal)}
        values["formal_share"] = round(formal / (formal + informal), 3) if formal + informal else None
        people = {
            "formal_events": int(formal_people),
            "informal_events": int(informal_people),
            "formal_share": min(int(formal_people), int(informal_people)),
        }
        rows.append(Row({"period": period, "team": shown_label(team)}, values, people))
    return rows


def knowledge_flow(client: Any, db: str, version: str, filters: Filters, k: int) -> list[Row]:
    """Answers over the whole range from the answerer's team to the asker's team (a team filter matches either)."""
    columns = {
        "team": ["asker_team", "answerer_team"],
        "department": ["asker_department", "answerer_department"],
        "source": ["source"],
        "topic": ["topic"],
    }
    if by_team_only(filters) and k <= FLOW_PEOPLE_CAP:
        where, table = scope(version, filters, {"team": columns["team"]}, "knowledge-flow"), "team_flow"
        merge = f"uniqUpToMerge({FLOW_PEOPLE_CAP})"
    else:
        where, table = scope(version, filters, columns, "knowledge-flow", all_topics=True), "flow_cells"
        merge = "uniqExactMerge"
    sql = f"""
SELECT asker_team, answerer_team, sum(answers), {merge}(askers), {merge}(answerers)
FROM {db}.{table}
WHERE {where.sql}
GROUP BY asker_team, answerer_team
ORDER BY asker_team, answerer_team"""
    return [
        Row(
            {"asker_team": asker_team or UNRESOLVED, "answerer_team": answerer_team or UNRESOLVED},
            {"answers": answers},
            {"answers": min(askers, answerers)},
        )
        for asker_team, answerer_team, answers, askers, answerers in _query(client, sql, where.parameters)
    ]


def time_to_answer(client: Any, db: str, version: str, filters: Filters, k: int) -> list[Row]:
    """Questions by period and the asker's team: how many, the share unanswered (no answer from someone else
    within 30 days), and the median and 90th percentile wait for the first answer in seconds."""
    where = scope(version, filters, EVERY_FILTER, "time-to-answer", all_topics=True)
    sql = f"""
SELECT toString({PERIOD_SQL[filters.granularity]}) AS period, team, sum(questions), sum(answered),
    uniqExactMerge(askers), quantilesExactMerge(0.5, 0.9)(first_answer_s)
FROM {db}.question_cells
WHERE {where.sql}
GROUP BY period, team
ORDER BY period, team"""
    rows = []
    for period, team, questions, answered, askers, waits in _query(client, sql, where.parameters):
        values: dict[str, float | int | None] = {
            "questions": int(questions),
            "unanswered_rate": round(1 - answered / questions, 3) if questions else None,
            "median_wait_s": round(float(waits[0]), 1) if answered else None,
            "p90_wait_s": round(float(waits[1]), 1) if answered else None,
        }
        people = {name: int(askers) for name in values}
        rows.append(Row({"period": period, "team": shown_label(team)}, values, people))
    return rows


def participation(client: Any, db: str, version: str, filters: Filters, k: int) -> list[Row]:
    """The share of a team's people who took part in any learning, by period (team size: the people the
    directory placed in the team at any time in the period). Released only when those who took part and those
    who did not (if any) each number at least k."""
    if by_team_only(filters):
        where = scope(version, filters, {"team": ["team"]}, "participation")
        where.parameters["all"] = ALL_CATEGORIES
        sql = f"""
SELECT toString(day) AS period, team, people
FROM {db}.team_activity
WHERE {where.sql} AND category = {{all:String}}"""
    else:
        where = scope(version, filters, EVERY_FILTER, "participation")
        sql = f"""
SELECT toString({PERIOD_SQL[filters.granularity]}) AS period, team, uniqExactMerge(people)
FROM {db}.{activity_table(filters)}
WHERE {where.sql} AND category != 'none'
GROUP BY period, team"""
    took_part = {(period, team): int(people) for period, team, people in _query(client, sql, where.parameters)}
    starts = periods(filters.since, filters.until, filters.granularity)
    ends = [next_period(start, filters.granularity) for start in starts]
    member_clauses = ["1"]
    parameters: dict[str, Any] = {"starts": starts, "ends": ends}
    for name in ("team", "department"):
        wanted = filters.named().get(name)
        if wanted:
            member_clauses.append(f"ifNull({name}, '') IN {{{name}:Array(String)}}")
            parameters[name] = [stored_label(value) for value in wanted]
    sizes_sql = f"""
SELECT toString(tupleElement(span, 1)) AS period, team, uniqExact(person)
FROM
(
    SELECT person, team, department, valid_from,
        leadInFrame(valid_from, 1, toDate('2149-06-06')) OVER
            (PARTITION BY person ORDER BY valid_from ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING) AS valid_until
    FROM {db}.current_team_memberships
) AS m
CROSS JOIN (SELECT arrayJoin(arrayZip({{starts:Array(Date)}}, {{ends:Array(Date)}})) AS span) AS p
WHERE m.valid_from < tupleElement(span, 2) AND m.valid_until > tupleElement(span, 1) AND {" AND ".join(member_clauses)}
GROUP BY period, team
ORDER BY period, team"""
    rows = []
    for period, team, size in _query(client, sizes_sql, parameters):
        participants = took_part.get((period, team), 0)
        values: dict[str, float | int | None] = {
            "people": int(size),
            "took_part": participants,
            "share": round(participants / size, 3) if size else None,
        }
        # The share also tells how many did not take part: that group, when not empty, must reach k too.
        absent = int(size) - participants
        protect = min(int(size), participants, absent if absent > 0 else int(size))
        rows.append(Row({"period": period, "team": shown_label(team)}, values, dict.fromkeys(values, protect)))
    return rows


def topics(client: Any, db: str, version: str, filters: Filters, k: int) -> list[Row]:
    """Rising and falling topics: learning events per topic in the range's last period against the one before,
    largest change first."""
    last = period_start(filters.until, filters.granularity)
    before = previous_period(last, filters.granularity)
    where = scope(version, filters, EVERY_FILTER, "topics", since=before)
    where.parameters["last"] = last
    sql = f"""
SELECT topic,
    sumIf(events, day >= {{last:Date}}), uniqExactMergeIf(people, day >= {{last:Date}}),
    sumIf(events, day < {{last:Date}}), uniqExactMergeIf(people, day < {{last:Date}})
FROM {db}.topic_cells
WHERE {where.sql} AND category != 'none'
GROUP BY topic
ORDER BY topic"""
    rows = []
    for topic, now, now_people, then, then_people in _query(client, sql, where.parameters):
        values: dict[str, float | int | None] = {"events": int(now), "previous": int(then)}
        values["change"] = int(now) - int(then)
        people = {"events": int(now_people), "previous": int(then_people)}
        people["change"] = min(people["events"], people["previous"])
        rows.append(Row({"topic": topic, "period": last.isoformat()}, values, people))
    return rows


def ranked_topics(rows: list[Row], filters: Filters) -> list[Row]:
    """Topics with a released change first, by how much they moved, then the rest; at most TOP."""
    moved = sorted(
        (row for row in rows if row.values.get("change") is not None), key=lambda row: -abs(row.values["change"] or 0)
    )
    rest = [row for row in rows if row.values.get("change") is None]
    return (moved + rest)[:TOP]


def source_mix(client: Any, db: str, version: str, filters: Filters, k: int) -> list[Row]:
    """Learning events by period and source, with each period's total."""
    where = scope(version, filters, EVERY_FILTER, "source-mix")
    sql = f"""
SELECT toString({PERIOD_SQL[filters.granularity]}) AS period, source, grouping(source) AS is_total, sum(events),
    uniqExactMerge(people)
FROM {db}.{activity_table(filters)}
WHERE {where.sql} AND category != 'none'
GROUP BY GROUPING SETS ((period, source), (period))
ORDER BY period, is_total, source"""
    rows = []
    for period, source, is_total, events, people in _query(client, sql, where.parameters):
        dims = {"period": period, "source": TOTAL if is_total else source}
        values: dict[str, float | int | None] = {"events": int(events)}
        rows.append(Row(dims, values, {"events": int(people)}, family=period, is_total=bool(is_total)))
    return rows


def knowledge_reuse(client: Any, db: str, version: str, filters: Filters, k: int) -> list[Row]:
    """The wiki pages that answers link to, most used first, and (as page "(any page)") the answers linking any."""
    where = scope(version, filters, EVERY_FILTER, "knowledge-reuse", all_topics=True)
    where.parameters["any"] = ANY_PAGE
    sql = f"""
SELECT page, sum(answers) AS linked, uniqExactMerge(answerers)
FROM {db}.reuse_cells
WHERE {where.sql}
GROUP BY page
ORDER BY page = {{any:String}} DESC, linked DESC, page
LIMIT {TOP + 1}"""
    rows = []
    for page, answers, answerers in _query(client, sql, where.parameters):
        values: dict[str, float | int | None] = {"answers": int(answers)}
        rows.append(Row({"page": "(any page)" if page == ANY_PAGE else page}, values, {"answers": int(answerers)}))
    return rows


def documentation_gaps(client: Any, db: str, version: str, filters: Filters, k: int) -> list[Row]:
    """Topics asked about again and again, with the share of their questions left unanswered: most asked first."""
    where = scope(version, filters, EVERY_FILTER, "documentation-gaps")
    where.parameters["all_topics"] = ALL_TOPICS
    sql = f"""
SELECT topic, sum(questions) AS asked, sum(answered), uniqExactMerge(askers)
FROM {db}.question_cells
WHERE {where.sql} AND topic != {{all_topics:String}}
GROUP BY topic
ORDER BY asked DESC, topic
LIMIT {TOP}"""
    rows = []
    for topic, questions, answered, askers in _query(client, sql, where.parameters):
        values: dict[str, float | int | None] = {
            "questions": int(questions),
            "unanswered": int(questions) - int(answered),
            "unanswered_rate": round(1 - answered / questions, 3) if questions else None,
        }
        rows.append(Row({"topic": topic}, values, dict.fromkeys(values, int(askers))))
    return rows


ALL_FILTERS = frozenset({"team", "department", "topic", "source"})
QUERIES: dict[str, TrendQuery] = {
    query.name: query
    for query in (
        TrendQuery(
            "activity",
            "Learning activity by team, category and period, with the change on the period before",
            ALL_FILTERS,
            ("period", "team", "category"),
            ("events", "change", "change_pct"),
            activity,
            additive=("events",),
            derived=period_change,
        ),
        TrendQuery(
            "formal-ratio",
            "Formal against informal learning by team",
            ALL_FILTERS,
            ("period", "team"),
            ("formal_events", "informal_events", "formal_share"),
            formal_ratio,
        ),
        TrendQuery(
            "knowledge-flow",
            "Answers from the answerer's team to the asker's team",
            ALL_FILTERS,
            ("asker_team", "answerer_team"),
            ("answers",),
            knowledge_flow,
        ),
        TrendQuery(
            "time-to-answer",
            "Time to first answer (median, p90) and the unanswered rate by the asker's team",
            ALL_FILTERS,
            ("period", "team"),
            ("questions", "unanswered_rate", "median_wait_s", "p90_wait_s"),
            time_to_answer,
        ),
        TrendQuery(
            "participation",
            "Participation breadth: the share of a team's people who took part",
            ALL_FILTERS,
            ("period", "team"),
            ("people", "took_part", "share"),
            participation,
        ),
        TrendQuery(
            "topics",
            "Rising and falling topics: the range's last period against the one before",
            ALL_FILTERS,
            ("topic", "period"),
            ("events", "previous", "change"),
            topics,
            derived=ranked_topics,
        ),
        TrendQuery(
            "source-mix",
            "Learning events by source",
            ALL_FILTERS,
            ("period", "source"),
            ("events",),
            source_mix,
            additive=("events",),
        ),
        TrendQuery(
            "knowledge-reuse",
            "Wiki pages that answers point to",
            ALL_FILTERS,
            ("page",),
            ("answers",),
            knowledge_reuse,
        ),
        TrendQuery(
            "documentation-gaps",
            "Topics asked again and again, and how many of their questions go unanswered",
            ALL_FILTERS,
            ("topic",),
            ("questions", "unanswered", "unanswered_rate"),
            documentation_gaps,
        ),
    )
}


def run_trend(client: Any, database: str, name: str, filters: Filters, version: str, k: int) -> TrendResult:
    """Run a named query over whole periods of one classifier version and withhold what counts fewer than k."""
    query = QUERIES.get(name)
    if query is None:
        raise UsageError(f"no trend query named {name!r}; the queries are: {', '.join(QUERIES)}")
    unsupported = set(filters.named()) - query.filters
    if unsupported:
        first = sorted(unsupported)[0]
        raise BadParameter(first, f"the {name} query cannot be filtered by {', '.join(sorted(unsupported))}")
    aligned = filters.aligned()
    with collection_paused():  # thousands of rows, all alive until returned: nothing for the collector to find
        rows = query.run(client, check_identifier(database, "database"), version, aligned, k)
        suppress(rows, k, query.additive)
        if query.derived is not None:
            rows = query.derived(rows, aligned)
    return TrendResult(query, aligned, version, k, rows)
