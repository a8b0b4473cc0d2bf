-- One row per learning event. No message text, by design.
-- ReplacingMergeTree on a key made only of fields fixed for an activity, so a re-delivered event collapses
-- into the same row (queries that need exact raw counts read with FINAL).
CREATE TABLE IF NOT EXISTS {database}.learning_events
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
    kafka_partition        UInt32,
    kafka_offset           UInt64,
    ingested_at            DateTime64(3, 'UTC') DEFAULT now64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (source, toDate(occurred_at), event_id)
SETTINGS non_replicated_deduplication_window = 10000;
