"""Stable BI views (`bi_*`): the named trend queries as plain ClickHouse views, withheld below k in SQL.

BI tools (Superset, Metabase, Grafana) point at these views and need no parameters: the minimum group size k and
the fallback classifier version are baked into the SQL when `apply_bi_views` (re)creates them, which every
`learnstream warehouse migrate`, `loader` and `serve` does. A view reads the trend tables of the active classifier
version only: the latest row of `classifier_activations`, else the configured classifier's version (the rule of
warehouse/versions.py), so `learnstream warehouse activate` switches every view at once.

Each view answers one named query (warehouse/queries.py) with no filters, for every period of each grain
('day', 'week' from Monday, 'month') the trend tables hold: the rows of `grain = G AND period = P` are what
`run_trend` releases for that one period at that granularity. A withheld figure is NULL and named in the row's
`withheld` array (the row stays, as in the JSON documents of warehouse/render.py). No view has a column of
people counts: only the figures the named queries release.

    bi_activity            grain, period, team, category ('(all)': the team's total), events, change, change_pct
    bi_formal_ratio        grain, period, team, formal_events, informal_events, formal_share
    bi_knowledge_flow      grain, period, asker_team, answerer_team, answers
    bi_time_to_answer      grain, period, team, questions, unanswered_rate, median_wait_s, p90_wait_s
    bi_participation       grain, period, team, people (team size), took_part, share
    bi_topics              grain, period, topic, events, previous, change (against the period before)
    bi_source_mix          grain, period, source ('(all)': the period's total), events
    bi_knowledge_reuse     grain, period, page ('(any page)': answers linking any page), answers
    bi_documentation_gaps  grain, period, topic, questions, unanswered, unanswered_rate
    bi_about               classifier_version (the one the views read), min_group_size (k)

Every `bi_*` view but bi_about ends in `withheld Array(String)`. Suppression is privacy.py's, in SQL: a figure
whose people number fewer than k is withheld; in a family that adds up to a released total (a team's categories
and its total per period; a period's sources and its total), window functions over the family order the
siblings by (people, figure, label) and withhold, after those below k, every further sibling while the people of
the siblings before it (in that order) number fewer than k; a total below k withholds its family, and siblings
all withheld and still below k withhold their total. Ratios are rounded as Python rounds (`printf`, not
ClickHouse's `round`, which differs at halves), so a view and `run_trend` give the same figures.

Where a view differs from the named query: bi_participation lists only periods with some learning event (the
query also lists team sizes of empty periods, all withheld); bi_topics has no ranking and no top-50 cut. The views
are created `SQL SECURITY DEFINER`, so a BI user granted SELECT on `bi_*` only reads them without any right on the
trend tables (deploy/clickhouse/users.d/learnstream-bi.xml). In cluster mode they are created ON CLUSTER and read
the Distributed tables, as warehouse/cluster.py lays out views.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError

from learnstream.errors import ConfigError, WarehouseError
from warehouse.dsn import check_identifier
from warehouse.privacy import TOTAL
from warehouse.queries import FORMAL, TOP, UNRESOLVED
from warehouse.rollup import ALL_CATEGORIES, ALL_TOPICS, ANY_PAGE, FLOW_PEOPLE_CAP, GRAINS, engine_message, on_cluster

logger = logging.getLogger(__name__)

#: How knowledge-reuse shows the row of answers linking any page.
ANY_PAGE_LABEL = "(any page)"
#: Who the views read the trend tables as: their creator, so a BI user needs SELECT on the views only.
SECURITY = "DEFINER = CURRENT_USER SQL SECURITY DEFINER"
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$")


@dataclass(frozen=True)
class Column:
    """A column of a view: its name, ClickHouse type and comment (shown by BI tools that read system.columns)."""

    name: str
    type: str
    comment: str


@dataclass(frozen=True)
class Baked:
    """What a view's SQL is made for: the database, k, and the SQL of the active classifier version."""

    db: str
    k: int
    active_version: str


@dataclass(frozen=True)
class BiView:
    """One view: its name, the named query it answers, its comment and columns, and its SELECT."""

    name: str
    query: str
    comment: str
    columns: tuple[Column, ...]
    select: Callable[[Baked], str]


# --- SQL fragments, all written here ----------------------------------------------------------------------------


def text(value: str) -> str:
    """A string literal of text written in this module (never user input): no quotes or backslashes in it."""
    if "'" in value or "\\" in value:
        raise ValueError(f"not a plain text for SQL: {value!r}")
    return f"'{value}'"


def version_literal(version: str) -> str:
    """The configured classifier version as a string literal, or a ConfigError when it is not a plain name."""
    if not _VERSION.match(version):
        raise ConfigError(
            f"classifier version {version!r} cannot be written into the BI views (letters, digits and . _ : + - "
            "only); fix the `version` of the classifier rules file"
        )
    return f"'{version}'"


def active_version_sql(db: str, configured: str) -> str:
    """The version every view reads: the latest activated one, else the configured one (warehouse/versions.py)."""
    return (
        f"(SELECT if(count() = 0, {version_literal(configured)}, argMax(classifier_version, activated_at)) "
        f"FROM {db}.classifier_activations)"
    )


def scope(baked: Baked) -> str:
    """The rows of a trend table a view reads: the active version, at the grains the views release."""
    grains = ", ".join(text(grain) for grain in GRAINS)
    return f"classifier_version = {baked.active_version} AND grain IN ({grains})"


def python_round(expression: str, digits: int) -> str:
    """Python's round(x, digits) of a Float64: correctly rounded, halves to even (ClickHouse's round is not)."""
    return f"toFloat64(printf('%.{int(digits)}f', {expression}))"


def team_label(column: str) -> str:
    """A stored team as shown: the unresolved team is the empty string."""
    return f"if({column} = '', {text(UNRESOLVED)}, {column})"


def next_period(column: str) -> str:
    """The first day of the period after the one starting at `column`, for the row's grain."""
    return f"multiIf(grain = 'day', addDays({column}, 1), grain = 'week', addDays({column}, 7), addMonths({column}, 1))"


def previous_period(column: str) -> str:
    """The first day of the period before the one starting at `column`, for the row's grain."""
    return (
        f"multiIf(grain = 'day', subtractDays({column}, 1), grain = 'week', subtractDays({column}, 7), "
        f"subtractMonths({column}, 1))"
    )


def released(expression: str, withheld: str) -> str:
    """A figure, or NULL where it is withheld."""
    return f"if({withheld}, NULL, {expression})"


def withheld_list(conditions: Mapping[str, str]) -> str:
    """The `withheld` array: the names of the measures whose condition holds, sorted as render.py lists them."""
    items = ", ".join(f"if({condition}, {text(name)}, '')" for name, condition in sorted(conditions.items()))
    return f"arrayFilter(measure -> measure != '', [{items}])"


def complete_families(base: str, family: str, tie: str, k: int) -> str:
    """`base` (rows with is_total, figure, people_count and the family's columns) with `figure_withheld`: below k,
    or withheld to complete its family as privacy.suppress does. Siblings in (people, figure, `tie`) order form
    the prefix privacy.py withholds smallest first: one is withheld when it is below k, or when some sibling is
    below k and the siblings before it count fewer than k people; the total when it is below k, or when some
    sibling is below k and all of them together count fewer than k. A family without a total row has no
    complement (privacy.py skips it)."""
    return f"""
SELECT *,
    people_count < {k}
        OR (family_totals > 0 AND (total_people < {k}
            OR (small_siblings > 0 AND if(is_total, sibling_people, people_before) < {k}))) AS figure_withheld
FROM
(
    SELECT *,
        countIf(is_total) OVER family AS family_totals,
        maxIf(people_count, is_total) OVER family AS total_people,
        countIf(NOT is_total AND people_count < {k}) OVER family AS small_siblings,
        sumIf(people_count, NOT is_total) OVER family AS sibling_people,
        sum(if(is_total, 0, people_count)) OVER (
            PARTITION BY {family} ORDER BY is_total, people_count, figure, {tie}
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS people_before
    FROM ({base})
    WINDOW family AS (PARTITION BY {family})
)"""


# --- the views --------------------------------------------------------------------------------------------------

GRAIN = Column("grain", "String", "The period length: day, week (starting on Monday) or month")
PERIOD = Column("period", "Date", "The first day of the period")
WITHHELD = Column(
    "withheld",
    "Array(String)",
    "The measures of this row withheld (NULL): about fewer than k people, or giving such a figure away",
)


def activity_sql(baked: Baked) -> str:
    base = f"""
SELECT grain, day AS period, team AS stored_team, category AS stored_category,
    category = {text(ALL_CATEGORIES)} AS is_total, events AS figure, people AS people_count
FROM {baked.db}.team_activity
WHERE {scope(baked)}"""
    suppressed = complete_families(base, "grain, period, stored_team", "stored_category", baked.k)
    shown = f"""
SELECT grain, period, {team_label("stored_team")} AS team, if(is_total, {text(TOTAL)}, stored_category) AS category,
    {released("figure", "figure_withheld")} AS events, if(figure_withheld, ['events'], []) AS withheld
FROM ({suppressed})"""
    # the change against the same row one period earlier, from released figures only (queries.period_change)
    return f"""
SELECT grain, period, team, category, events,
    if(earlier_period = {previous_period("period")} AND earlier_events IS NOT NULL AND events IS NOT NULL,
        toInt64(events) - toInt64(earlier_events), NULL) AS change,
    if(change IS NOT NULL AND earlier_events != 0,
        {python_round("100.0 * change / earlier_events", 1)}, NULL) AS change_pct,
    withheld
FROM
(
    SELECT *, lagInFrame(period) OVER earlier AS earlier_period, lagInFrame(events) OVER earlier AS earlier_events
    FROM ({shown})
    WINDOW earlier AS (PARTITION BY grain, team, category ORDER BY period ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
)"""


def formal_ratio_sql(baked: Baked) -> str:
    formal = "category IN (" + ", ".join(text(category) for category in FORMAL) + ")"
    below = {
        "formal_events": f"formal_people < {baked.k}",
        "informal_events": f"informal_people < {baked.k}",
        "formal_share": f"least(formal_people, informal_people) < {baked.k}",
    }
    share = f"if(formal + informal > 0, {python_round('formal / (formal + informal)', 3)}, NULL)"
    return f"""
SELECT grain, period, {team_label("stored_team")} AS team,
    {released("formal", below["formal_events"])} AS formal_events,
    {released("informal", below["informal_events"])} AS informal_events,
    {released(share, below["formal_share"])} AS formal_share,
    {withheld_list(below)} AS withheld
FROM
(
    SELECT grain, day AS period, team AS stored_team,
        sumIf(events, {formal}) AS formal, uniqExactMergeIf(people, {formal}) AS formal_people,
        sumIf(events, NOT {formal}) AS informal, uniqExactMergeIf(people, NOT {formal}) AS informal_people
    FROM {baked.db}.activity_cells
    WHERE {scope(baked)} AND category != 'none'
    GROUP BY grain, day, team
)"""


def knowledge_flow_sql(baked: Baked) -> str:
    # team_flow counts people up to the cap, which tells every k up to the cap apart (queries.knowledge_flow)
    if baked.k <= FLOW_PEOPLE_CAP:
        table, merge, topics = "team_flow", f"uniqUpToMerge({FLOW_PEOPLE_CAP})", "1"
    else:
        table, merge, topics = "flow_cells", "uniqExactMerge", f"topic = {text(ALL_TOPICS)}"
    return f"""
SELECT grain, period, {team_label("stored_asker_team")} AS asker_team,
    {team_label("stored_answerer_team")} AS answerer_team,
    {released("answer_count", f"pair_people < {baked.k}")} AS answers,
    {withheld_list({"answers": f"pair_people < {baked.k}"})} AS withheld
FROM
(
    SELECT grain, day AS period, asker_team AS stored_asker_team, answerer_team AS stored_answerer_team,
        sum(answers) AS answer_count, least({merge}(askers), {merge}(answerers)) AS pair_people
    FROM {baked.db}.{table}
    WHERE {scope(baked)} AND {topics}
    GROUP BY grain, day, asker_team, answerer_team
)"""


def time_to_answer_sql(baked: Baked) -> str:
    below = f"asker_count < {baked.k}"
    measures = ("questions", "unanswered_rate", "median_wait_s", "p90_wait_s")
    return f"""
SELECT grain, period, {team_label("stored_team")} AS team,
    {released("asked", below)} AS questions,
    {released(f"if(asked > 0, {python_round('1 - answered_count / asked', 3)}, NULL)", below)} AS unanswered_rate,
    {released(f"if(answered_count > 0, {python_round('waits[1]', 1)}, NULL)", below)} AS median_wait_s,
    {released(f"if(answered_count > 0, {python_round('waits[2]', 1)}, NULL)", below)} AS p90_wait_s,
    {withheld_list(dict.fromkeys(measures, below))} AS withheld
FROM
(
    SELECT grain, day AS period, team AS stored_team, sum(questions) AS asked, sum(answered) AS answered_count,
        uniqExactMerge(askers) AS asker_count, quantilesExactMerge(0.5, 0.9)(first_answer_s) AS waits
    FROM {baked.db}.question_cells
    WHERE {scope(baked)} AND topic = {text(ALL_TOPICS)}
    GROUP BY grain, day, team
)"""


def participation_sql(baked: Baked) -> str:
    below = f"protect < {baked.k}"
    return f"""
WITH
    periods AS
    (
        SELECT DISTINCT grain, day AS period, {next_period("day")} AS period_end
        FROM {baked.db}.team_activity
        WHERE {scope(baked)} AND category = {text(ALL_CATEGORIES)}
    ),
    memberships AS
    (
        SELECT person, team, valid_from,
            leadInFrame(valid_from, 1, toDate('2149-06-06')) OVER
                (PARTITION BY person ORDER BY valid_from ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING) AS valid_until
        FROM {baked.db}.current_team_memberships
    ),
    sizes AS
    (
        SELECT p.grain AS grain, p.period AS period, m.team AS stored_team, uniqExact(m.person) AS size
        FROM memberships AS m CROSS JOIN periods AS p
        WHERE m.valid_from < p.period_end AND m.valid_until > p.period
        GROUP BY p.grain, p.period, m.team
    ),
    took AS
    (
        SELECT grain, day AS period, team AS stored_team, people AS took_part_count
        FROM {baked.db}.team_activity
        WHERE {scope(baked)} AND category = {text(ALL_CATEGORIES)}
    )
SELECT grain, period, {team_label("stored_team")} AS team,
    {released("size", below)} AS people,
    {released("participants", below)} AS took_part,
    {released(f"if(size > 0, {python_round('participants / size', 3)}, NULL)", below)} AS share,
    {withheld_list(dict.fromkeys(("people", "took_part", "share"), below))} AS withheld
FROM
(
    -- the share also tells how many did not take part: that group, when not empty, must reach k too
    SELECT s.grain AS grain, s.period AS period, s.stored_team AS stored_team, s.size AS size,
        ifNull(t.took_part_count, 0) AS participants,
        toInt64(size) - toInt64(participants) AS absent,
        least(toInt64(size), toInt64(participants), if(absent > 0, absent, toInt64(size))) AS protect
    FROM sizes AS s
    LEFT JOIN took AS t ON t.grain = s.grain AND t.period = s.period AND t.stored_team = s.stored_team
)"""


def topics_sql(baked: Baked) -> str:
    rows = f"FROM {baked.db}.topic_cells WHERE {scope(baked)} AND category != 'none'"
    below = {
        "events": f"now_people < {baked.k}",
        "previous": f"before_people < {baked.k}",
        "change": f"least(now_people, before_people) < {baked.k}",
    }
    return f"""
SELECT grain, period, topic,
    {released("now", below["events"])} AS events,
    {released("before", below["previous"])} AS previous,
    {released("toInt64(now) - toInt64(before)", below["change"])} AS change,
    {withheld_list(below)} AS withheld
FROM
(
    SELECT grain, period, topic,
        sumIf(events, current) AS now, uniqExactMergeIf(people, current) AS now_people,
        sumIf(events, NOT current) AS before, uniqExactMergeIf(people, NOT current) AS before_people
    FROM
    (
        SELECT grain, day AS period, topic, events, people, true AS current {rows}
        UNION ALL
        SELECT grain, {next_period("day")} AS period, topic, events, people, false AS current {rows}
    )
    GROUP BY grain, period, topic
)"""


def source_mix_sql(baked: Baked) -> str:
    base = f"""
SELECT grain, day AS period, source AS stored_source, grouping(source) = 1 AS is_total, sum(events) AS figure,
    uniqExactMerge(people) AS people_count
FROM {baked.db}.activity_cells
WHERE {scope(baked)} AND category != 'none'
GROUP BY GROUPING SETS ((grain, day, source), (grain, day))"""
    suppressed = complete_families(base, "grain, period", "stored_source", baked.k)
    return f"""
SELECT grain, period, if(is_total, {text(TOTAL)}, stored_source) AS source,
    {released("figure", "figure_withheld")} AS events, if(figure_withheld, ['events'], []) AS withheld
FROM ({suppressed})"""


def knowledge_reuse_sql(baked: Baked) -> str:
    below = f"answerer_count < {baked.k}"
    return f"""
SELECT grain, period, if(stored_page = {text(ANY_PAGE)}, {text(ANY_PAGE_LABEL)}, stored_page) AS page,
    {released("linked", below)} AS answers, {withheld_list({"answers": below})} AS withheld
FROM
(
    SELECT *, row_number() OVER
        (PARTITION BY grain, period ORDER BY stored_page = {text(ANY_PAGE)} DESC, linked DESC, stored_page) AS place
    FROM
    (
        SELECT grain, day AS period, page AS stored_page, sum(answers) AS linked,
            uniqExactMerge(answerers) AS answerer_count
        FROM {baked.db}.reuse_cells
        WHERE {scope(baked)} AND topic = {text(ALL_TOPICS)}
        GROUP BY grain, day, page
    )
)
WHERE place <= {TOP + 1}"""


def documentation_gaps_sql(baked: Baked) -> str:
    below = f"asker_count < {baked.k}"
    return f"""
SELECT grain, period, stored_topic AS topic,
    {released("asked", below)} AS questions,
    {released("toInt64(asked) - toInt64(answered_count)", below)} AS unanswered,
    {released(f"if(asked > 0, {python_round('1 - answered_count / asked', 3)}, NULL)", below)} AS unanswered_rate,
    {withheld_list(dict.fromkeys(("questions", "unanswered", "unanswered_rate"), below))} AS withheld
FROM
(
    SELECT *, row_number() OVER (PARTITION BY grain, period ORDER BY asked DESC, stored_topic) AS place
    FROM
    (
        SELECT grain, day AS period, topic AS stored_topic, sum(questions) AS asked,
            sum(answered) AS answered_count, uniqExactMerge(askers) AS asker_count
        FROM {baked.db}.question_cells
        WHERE {scope(baked)} AND topic != {text(ALL_TOPICS)}
        GROUP BY grain, day, topic
    )
)
WHERE place <= {TOP}"""


def about_sql(baked: Baked) -> str:
    return f"SELECT {baked.active_version} AS classifier_version, toUInt32({baked.k}) AS min_group_size"


def _team(comment: str = "The team (as the directory places people on the day they acted)") -> Column:
    return Column("team", "String", comment)


def trend_view(name: str, query: str, comment: str, select: Callable[[Baked], str], *columns: Column) -> BiView:
    """A view of a named query: grain and period, its dimensions and measures, then `withheld`."""
    return BiView(name, query, comment, (GRAIN, PERIOD, *columns, WITHHELD), select)


VIEWS: tuple[BiView, ...] = (
    trend_view(
        "bi_activity",
        "activity",
        "Learning events by period, team and category, with each team total; withheld below k",
        activity_sql,
        _team(),
        Column("category", "String", "The learning category, or (all) for the team total of the period"),
        Column("events", "Nullable(UInt64)", "Learning events (category none left out)"),
        Column("change", "Nullable(Int64)", "Events minus those of the same row one period earlier"),
        Column("change_pct", "Nullable(Float64)", "The change in percent of the earlier period"),
    ),
    trend_view(
        "bi_formal_ratio",
        "formal-ratio",
        "Formal (courses, e-learning) against informal learning events by period and team; withheld below k",
        formal_ratio_sql,
        _team(),
        Column("formal_events", "Nullable(UInt64)", "Formal learning events"),
        Column("informal_events", "Nullable(UInt64)", "Informal learning events"),
        Column("formal_share", "Nullable(Float64)", "Formal events over all learning events"),
    ),
    trend_view(
        "bi_knowledge_flow",
        "knowledge-flow",
        "Answers from the answerer team to the asker team by period; withheld below k askers or answerers",
        knowledge_flow_sql,
        Column("asker_team", "String", "The team of the person answered"),
        Column("answerer_team", "String", "The team of the person who answered"),
        Column("answers", "Nullable(UInt64)", "Answers from answerer_team to asker_team"),
    ),
    trend_view(
        "bi_time_to_answer",
        "time-to-answer",
        "Questions by period and asker team: unanswered rate and waits for a first answer; withheld below k",
        time_to_answer_sql,
        _team("The team of the asker"),
        Column("questions", "Nullable(UInt64)", "Questions asked"),
        Column("unanswered_rate", "Nullable(Float64)", "Share without an answer from someone else in 30 days"),
        Column("median_wait_s", "Nullable(Float64)", "Median wait for the first answer, seconds"),
        Column("p90_wait_s", "Nullable(Float64)", "90th percentile wait for the first answer, seconds"),
    ),
    trend_view(
        "bi_participation",
        "participation",
        "The share of a team who took part in any learning, by period; withheld unless takers and others reach k",
        participation_sql,
        _team("The team as the directory says"),
        Column("people", "Nullable(UInt64)", "Team size: people the directory placed in the team in the period"),
        Column("took_part", "Nullable(UInt64)", "People of the team with a learning event in the period"),
        Column("share", "Nullable(Float64)", "took_part over people"),
    ),
    trend_view(
        "bi_topics",
        "topics",
        "Learning events per topic in a period against the period before; withheld below k",
        topics_sql,
        Column("topic", "String", "The topic"),
        Column("events", "Nullable(UInt64)", "Learning events tagged with the topic in the period"),
        Column("previous", "Nullable(UInt64)", "The same in the period before"),
        Column("change", "Nullable(Int64)", "events minus previous"),
    ),
    trend_view(
        "bi_source_mix",
        "source-mix",
        "Learning events by period and source, with each period total; withheld below k",
        source_mix_sql,
        Column("source", "String", "The source system, or (all) for the total of the period"),
        Column("events", "Nullable(UInt64)", "Learning events"),
    ),
    trend_view(
        "bi_knowledge_reuse",
        "knowledge-reuse",
        "Wiki pages that answers link to, by period (the 51 most linked rows); withheld below k answerers",
        knowledge_reuse_sql,
        Column("page", "String", "The wiki page, or (any page) for the answers linking any"),
        Column("answers", "Nullable(UInt64)", "Answers linking the page"),
    ),
    trend_view(
        "bi_documentation_gaps",
        "documentation-gaps",
        "Topics asked most in a period (50 at most) and their unanswered questions; withheld below k askers",
        documentation_gaps_sql,
        Column("topic", "String", "The topic"),
        Column("questions", "Nullable(UInt64)", "Questions tagged with the topic"),
        Column("unanswered", "Nullable(Int64)", "Of them, without an answer from someone else in 30 days"),
        Column("unanswered_rate", "Nullable(Float64)", "unanswered over questions"),
    ),
    BiView(
        "bi_about",
        "",
        "What the bi_ views show: the classifier version they read and k, the minimum group size",
        (
            Column("classifier_version", "String", "The classifier version every bi_ view reads"),
            Column("min_group_size", "UInt32", "k: no released figure is about fewer people"),
        ),
        about_sql,
    ),
)


def create_view_sql(view: BiView, database: str, k: int, version: str, cluster: str | None = None) -> str:
    """The CREATE OR REPLACE VIEW statement of one view, with k and the fallback version written in."""
    db = check_identifier(database, "database")
    if int(k) < 2:
        raise ConfigError(
            f"the minimum group size must be at least 2, not {k}; fix LEARNSTREAM_WAREHOUSE__MIN_GROUP_SIZE"
        )
    baked = Baked(db, int(k), active_version_sql(db, version))
    columns = ",\n    ".join(f"{column.name} {column.type} COMMENT {text(column.comment)}" for column in view.columns)
    return (
        f"CREATE OR REPLACE VIEW {db}.{view.name}{on_cluster(cluster)}\n(\n    {columns}\n)\n{SECURITY}\n"
        f"AS {view.select(baked).strip()}\nCOMMENT {text(view.comment)}"
    )


def bi_view_statements(database: str, k: int, version: str, cluster: str | None = None) -> list[tuple[str, str]]:
    """Every view's name and CREATE statement."""
    return [(view.name, create_view_sql(view, database, k, version, cluster)) for view in VIEWS]


def apply_bi_views(client: Any, database: str, k: int, version: str, cluster: str | None = None) -> list[str]:
    """(Re)create every `bi_*` view for k and the configured classifier version; returns the views' names."""
    applied: list[str] = []
    for name, sql in bi_view_statements(database, k, version, cluster):
        try:
            client.command(sql)
        except ClickHouseError as exc:
            raise WarehouseError(
                f"creating the BI view {name} failed: {engine_message(exc)}; run `learnstream warehouse migrate`"
            ) from exc
        applied.append(name)
    logger.info("applied %d BI views to %s (k=%d)", len(applied), database, k)
    return applied
