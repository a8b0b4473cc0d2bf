-- learning_events keyed by (classifier_version, event_id): each version of the classifier has its own row per
-- event, and the latest row of an event (an edit, a deletion, a re-delivery) replaces the earlier ones. The
-- loader gives an edit or a deletion the occurrence time of the item it changes, so every row of an event lies in
-- one month partition and the replacement also happens on disk, not only under FINAL. `retracted` marks a deleted
-- item or a voided statement: it stays as the latest row of its id, so nothing brings the event back, and no
-- figure counts it. `page_refs` are the wiki pages an activity links to (knowledge reuse), never message text.
-- The trend tables below are no longer materialized views: distinct-count states cannot be subtracted when an
-- event is edited, retracted or erased, so they are rebuilt day by day from these rows (warehouse/rollup.py).
DROP VIEW IF EXISTS {database}.learning_events_with_team;
DROP VIEW IF EXISTS {database}.learning_events_daily_mv;
DROP TABLE IF EXISTS {database}.learning_events_daily;

CREATE TABLE IF NOT EXISTS {database}.learning_events_next
(
    event_id               String,
    activity_id            String,
    schema_version         UInt8,
    source                 LowCardinality(String),
    source_instance        LowCardinality(String),
    conversation_key       String,
    activity_kind          LowCardinality(String),
    occurred_at            DateTime64(3, 'UTC'),
    actor                  String,
    counterpart            Nullable(String),
    category               LowCardinality(String),
    formal                 Bool,
    confidence             Float32,
    decided_by             LowCardinality(String),
    classifier_version     LowCardinality(String),
    topics                 Array(LowCardinality(String)),
    response_delay_seconds Nullable(Float64),
    retracted              Bool DEFAULT false,
    page_refs              Array(String) DEFAULT [],
    kafka_partition        UInt32,
    kafka_offset           UInt64,
    ingested_at            DateTime64(3, 'UTC') DEFAULT now64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (classifier_version, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

INSERT INTO {database}.learning_events_next
    (event_id, activity_id, schema_version, source, source_instance, conversation_key, activity_kind, occurred_at,
     actor, counterpart, category, formal, confidence, decided_by, classifier_version, topics,
     response_delay_seconds, retracted, kafka_partition, kafka_offset, ingested_at)
SELECT
    event_id, activity_id, schema_version, source, source_instance, conversation_key, activity_kind, occurred_at,
    actor, counterpart, category, formal, confidence, decided_by, classifier_version, topics,
    response_delay_seconds, activity_kind = 'item_deleted', kafka_partition, kafka_offset, ingested_at
FROM {database}.learning_events;

EXCHANGE TABLES {database}.learning_events AND {database}.learning_events_next;
DROP TABLE IF EXISTS {database}.learning_events_next;

-- Each current learning event (its latest row; none of an event ever retracted) with the team its actor was in when they acted.
CREATE VIEW IF NOT EXISTS {database}.learning_events_with_team AS
SELECT
    e.*,
    nullIf(m.team, '') AS actor_team,
    m.department AS actor_department
FROM
(
    SELECT * FROM {database}.learning_events FINAL
    WHERE NOT retracted AND event_id NOT IN (SELECT event_id FROM {database}.learning_events WHERE retracted)
) AS e
ASOF LEFT JOIN {database}.current_team_memberships AS m
    ON e.actor = m.person AND toDate(e.occurred_at) >= m.valid_from;

-- People erased with `learnstream erase`: the loader drops their events and the rebuild leaves them out, so a
-- replay of the raw topic never brings them back. Only the pseudonym and when.
CREATE TABLE IF NOT EXISTS {database}.erased_people
(
    person    String,
    erased_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(erased_at)
ORDER BY person;

-- The classifier version that every trend query reads; the latest activation wins. With none, queries read the
-- version of the classifier the settings configure.
CREATE TABLE IF NOT EXISTS {database}.classifier_activations
(
    classifier_version String,
    activated_at       DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY activated_at;

-- Which days of the trend tables are out of date: `marked` when their events changed, `rebuilt` with the time a
-- rebuild started. A day is due when its latest mark is newer than its latest rebuild.
CREATE TABLE IF NOT EXISTS {database}.rollup_log
(
    day  Date,
    kind LowCardinality(String),
    at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(at)
ORDER BY (day, kind);

-- The trend tables: one row per cell of a period, each counting events (a sum over deduplicated rows) and the
-- distinct people in it (a uniqExact state of each pseudonym's 64-bit cityHash64, so cells merge into longer periods
-- and totals without counting a person twice; two people share a hash with a chance below one in a billion at
-- 100,000 people, and would then be counted once: never more people than there are). `grain` is the period: 'day' rows are built from the events, 'week' rows (day = the Monday) and
-- 'month' rows (day = the 1st) from the day rows, so a query reads about a sixth or a thirtieth of the rows it would
-- merge from days. Partitioned by grain and period, so a rebuild swaps exactly the days, weeks and months that changed.
-- A team or department of '' means the directory does not know the person (counted, never named).
CREATE TABLE IF NOT EXISTS {database}.activity_cells
(
    classifier_version LowCardinality(String),
    grain              LowCardinality(String),
    day                Date,
    team               LowCardinality(String),
    department         LowCardinality(String),
    category           LowCardinality(String),
    source             LowCardinality(String),
    events             SimpleAggregateFunction(sum, UInt64),
    people             AggregateFunction(uniqExact, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY (grain, day)
ORDER BY (classifier_version, grain, day, team, department, category, source);

-- One row per topic an event was tagged with (an event with two topics is in two rows: sum per topic only).
CREATE TABLE IF NOT EXISTS {database}.topic_cells
(
    classifier_version LowCardinality(String),
    grain              LowCardinality(String),
    day                Date,
    topic              LowCardinality(String),
    team               LowCardinality(String),
    department         LowCardinality(String),
    category           LowCardinality(String),
    source             LowCardinality(String),
    events             SimpleAggregateFunction(sum, UInt64),
    people             AggregateFunction(uniqExact, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY (grain, day)
ORDER BY (classifier_version, grain, topic, day, team, department, category, source);

-- Answers by the asker's team and the answerer's team (knowledge flow), on the day of the answer. Each answer is in
-- the row of topic '*' (every answer once) and in one row per topic it was tagged with (for a topic filter).
CREATE TABLE IF NOT EXISTS {database}.flow_cells
(
    classifier_version LowCardinality(String),
    grain              LowCardinality(String),
    topic              LowCardinality(String),
    day                Date,
    asker_team         LowCardinality(String),
    asker_department   LowCardinality(String),
    answerer_team      LowCardinality(String),
    answerer_department LowCardinality(String),
    source             LowCardinality(String),
    answers            SimpleAggregateFunction(sum, UInt64),
    askers             AggregateFunction(uniqExact, UInt64),
    answerers          AggregateFunction(uniqExact, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY (grain, day)
ORDER BY (classifier_version, grain, topic, day, asker_team, answerer_team, asker_department, answerer_department, source);

-- Questions on the day they were asked, by the asker's team, in topic '*' and in each of their topics: how many, how
-- many got an answer from someone else, and the wait for the first answer (quantile states).
CREATE TABLE IF NOT EXISTS {database}.question_cells
(
    classifier_version LowCardinality(String),
    grain              LowCardinality(String),
    topic              LowCardinality(String),
    day                Date,
    team               LowCardinality(String),
    department         LowCardinality(String),
    source             LowCardinality(String),
    questions          SimpleAggregateFunction(sum, UInt64),
    answered           SimpleAggregateFunction(sum, UInt64),
    askers             AggregateFunction(uniqExact, UInt64),
    first_answer_s     AggregateFunction(quantilesExact(0.5, 0.9), Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY (grain, day)
ORDER BY (classifier_version, grain, topic, day, team, department, source);

-- Answers that link to a wiki page (knowledge reuse): which pages answer questions, and for which teams; page '*'
-- counts every answer linking any page once; topics as in flow_cells.
CREATE TABLE IF NOT EXISTS {database}.reuse_cells
(
    classifier_version LowCardinality(String),
    grain              LowCardinality(String),
    topic              LowCardinality(String),
    day                Date,
    page               String,
    team               LowCardinality(String),
    department         LowCardinality(String),
    source             LowCardinality(String),
    answers            SimpleAggregateFunction(sum, UInt64),
    answerers          AggregateFunction(uniqExact, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY (grain, day)
ORDER BY (classifier_version, grain, topic, day, page, team, department, source);

-- The current events of the days being rebuilt, with their actor's and counterpart's teams.
CREATE TABLE IF NOT EXISTS {database}.rollup_events_staging
(
    event_id               String,
    classifier_version     LowCardinality(String),
    occurred_at            DateTime64(3, 'UTC'),
    day                    Date,
    actor                  String,
    counterpart            Nullable(String),
    category               LowCardinality(String),
    source                 LowCardinality(String),
    topics                 Array(LowCardinality(String)),
    conversation_key       String,
    page_refs              Array(String),
    team                   LowCardinality(String),
    department             LowCardinality(String),
    counterpart_team       LowCardinality(String),
    counterpart_department LowCardinality(String)
)
ENGINE = MergeTree
ORDER BY (classifier_version, category, conversation_key);

-- Where the rows of a day, week or month are rebuilt before they replace theirs above (ALTER TABLE … REPLACE PARTITION).
CREATE TABLE IF NOT EXISTS {database}.activity_cells_staging AS {database}.activity_cells;
CREATE TABLE IF NOT EXISTS {database}.topic_cells_staging AS {database}.topic_cells;
CREATE TABLE IF NOT EXISTS {database}.flow_cells_staging AS {database}.flow_cells;
CREATE TABLE IF NOT EXISTS {database}.question_cells_staging AS {database}.question_cells;
CREATE TABLE IF NOT EXISTS {database}.reuse_cells_staging AS {database}.reuse_cells;

-- Every day already loaded is due for its first build.
INSERT INTO {database}.rollup_log (day, kind, at)
SELECT DISTINCT toDate(occurred_at), 'marked', now64(3, 'UTC') FROM {database}.learning_events;
