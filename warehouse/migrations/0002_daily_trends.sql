-- Events per day by category, source and formality. The view keeps uniqExact states of event_id rather than
-- count(), so an event delivered twice (a replay, a retried batch) is still counted once.
CREATE TABLE IF NOT EXISTS {database}.learning_events_daily
(
    day      Date,
    category LowCardinality(String),
    source   LowCardinality(String),
    formal   Bool,
    events   AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
ORDER BY (day, category, source, formal);

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.learning_events_daily_mv
TO {database}.learning_events_daily
AS SELECT
    toDate(occurred_at) AS day,
    category,
    source,
    formal,
    uniqExactState(event_id) AS events
FROM {database}.learning_events
GROUP BY day, category, source, formal;
