-- The xAPI Statement store: the system of record of learnstream's LRS (lrs/store.py). An LRS must return the
-- Statements it stored as they were sent (with what it assigned: id, stored, timestamp, version, authority), so
-- they are kept whole in `statement`, with real identities in them. That is why nothing else reads these tables:
-- no trend query, no BI view, no Kafka topic (the pipeline gets the pseudonymised activity only). They are read
-- through the authenticated Statement API, expire after LRS__RETENTION_DAYS, and `erase` deletes a person's rows
-- (`people` holds the pseudonyms of everyone a Statement names).
--
-- The other columns serve the Statement API: `content_hash` and `sent_at` tell a re-sent id from a conflicting
-- one (Data 2.3.1); `actors` (the actor, and the object when it is an Agent or Group) and `agents` (every agent
-- anywhere) answer `agent` and `related_agents`; `activity` and `activities` answer `activity` and
-- `related_activities`; `ref` is the id of the Statement a StatementRef object targets (so a filter also matches
-- Statements that target a matching one), `voids` the same for a voiding Statement. Statements are never changed:
-- voiding adds a row to xapi_voided.
CREATE TABLE IF NOT EXISTS {database}.xapi_statements
(
    id           String,
    stored       DateTime64(3, 'UTC'),
    content_hash String,
    sent_at      Nullable(DateTime64(3, 'UTC')),
    verb         String,
    ref          String,
    voids        String,
    actors       Array(String),
    agents       Array(String),
    activity     String,
    activities   Array(String),
    registration String,
    people       Array(String),
    attachments  Array(String),
    statement    String CODEC(ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(stored)
ORDER BY id;

-- Which Statements were voided, and by which: a voided Statement is returned only by voidedStatementId.
CREATE TABLE IF NOT EXISTS {database}.xapi_voided
(
    id        String,
    voided_by String,
    stored    DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY id;

-- Attachment contents by their SHA-2 (the same bytes sent twice are kept once).
CREATE TABLE IF NOT EXISTS {database}.xapi_attachments
(
    sha2         String,
    content_type String,
    data         String CODEC(ZSTD(1)),
    stored       DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(stored)
ORDER BY sha2;
