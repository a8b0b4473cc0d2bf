"""E-learning sources: xAPI statements (any LRS client, Moodle logstore_xapi)."""
