-- Two trend tables at the grouping the largest default answers read, rebuilt with the others (warehouse/rollup.py),
-- so those queries read a row per figure, or small states, instead of merging large ones. team_activity summarises
-- activity_cells' rows of the same day, week or month: each team's learning events (category 'none' left out) and
-- people per category and, in category '*', in all of them, as final counts. team_flow holds the answers from one
-- team to another in every topic and source, with their askers and answerers counted only up to 20
-- (`uniqUpTo(20)`: exact below, 21 above), which is all the knowledge-flow matrix needs to withhold a pair below a
-- minimum group size of up to 20, at a fraction of the cost of merging exact states over its range. A query
-- filtered by department, source or topic, or run with a larger minimum group size, reads the full tables.
CREATE TABLE IF NOT EXISTS {database}.team_activity
(
    classifier_version LowCardinality(String),
    grain              LowCardinality(String),
    day                Date,
    team               LowCardinality(String),
    category           LowCardinality(String),
    events             UInt64,
    people             UInt64
)
ENGINE = MergeTree
PARTITION BY (grain, day)
ORDER BY (classifier_version, grain, day, team, category);

CREATE TABLE IF NOT EXISTS {database}.team_flow
(
    classifier_version LowCardinality(String),
    grain              LowCardinality(String),
    day                Date,
    asker_team         LowCardinality(String),
    answerer_team      LowCardinality(String),
    answers            SimpleAggregateFunction(sum, UInt64),
    askers             AggregateFunction(uniqUpTo(20), UInt64),
    answerers          AggregateFunction(uniqUpTo(20), UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY (grain, day)
ORDER BY (classifier_version, grain, day, asker_team, answerer_team);

CREATE TABLE IF NOT EXISTS {database}.team_activity_staging AS {database}.team_activity;
CREATE TABLE IF NOT EXISTS {database}.team_flow_staging AS {database}.team_flow;

-- Every day already built is due again, so its summaries are built.
INSERT INTO {database}.rollup_log (day, kind, at)
SELECT DISTINCT day, 'marked', now64(3, 'UTC') FROM {database}.rollup_log;
