-- The people/teams dimension: every team membership of every person, as the people directory (the compacted
-- <ns>.directory topic) says, versioned by validity: a membership holds from its valid_from until the person's
-- next one starts, so a move between teams never rewrites where someone sat before. Pseudonyms, teams and
-- departments only; no names. Each load writes every person's whole history with its load time (record_at); only a
-- person's latest load counts (current_team_memberships), so a period HR corrected away disappears with it.
CREATE TABLE IF NOT EXISTS {database}.team_memberships
(
    person     String,
    valid_from Date,
    team       LowCardinality(String),
    department LowCardinality(Nullable(String)),
    manager    Nullable(String),
    record_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(record_at)
ORDER BY (person, valid_from);

CREATE VIEW IF NOT EXISTS {database}.current_team_memberships AS
SELECT person, valid_from, team, department, manager
FROM {database}.team_memberships FINAL
WHERE (person, record_at) IN (SELECT person, max(record_at) FROM {database}.team_memberships FINAL GROUP BY person);

-- Each learning event with the team its actor was in when they acted (NULL when the directory does not know the
-- person, or not yet on that day).
CREATE VIEW IF NOT EXISTS {database}.learning_events_with_team AS
SELECT
    e.*,
    nullIf(m.team, '') AS actor_team,
    m.department AS actor_department
FROM {database}.learning_events AS e FINAL
ASOF LEFT JOIN {database}.current_team_memberships AS m
    ON e.actor = m.person AND toDate(e.occurred_at) >= m.valid_from;
