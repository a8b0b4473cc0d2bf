"""The simulated LMS's Statements: valid as an LRS checks them, the same for the same seed, learners named by the
LMS accounts the directory lists, and courses taken to the end by most."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date

from lrs.validation import batch_violations
from simulator.courses import course_statements
from simulator.organisation import directory_csv, generate_organisation

FIRST = date(2026, 10, 1)


def test_the_statements_are_valid_and_the_same_for_the_same_seed() -> None:
    org = generate_organisation(60, 3, FIRST, days=20)
    statements = course_statements(org, 20, 3, FIRST)
    assert statements and batch_violations(statements, "1.0.3") == []
    assert course_statements(generate_organisation(60, 3, FIRST, days=20), 20, 3, FIRST) == statements
    assert len({statement["id"] for statement in statements}) == len(statements)


def test_learners_are_the_directorys_lms_accounts_and_most_complete() -> None:
    org = generate_organisation(60, 3, FIRST, days=20)
    statements = course_statements(org, 20, 3, FIRST)
    listed = {row["lms"] for row in csv.DictReader(io.StringIO(directory_csv(org))) if row.get("lms")}
    names = {statement["actor"]["account"]["name"] for statement in statements}
    assert names <= listed and len(names) >= 10
    verbs = Counter(statement["verb"]["id"].rsplit("/", 1)[-1] for statement in statements)
    assert verbs["launched"] > 0 and verbs["completed"] >= verbs["launched"] / 2
    assert verbs["passed"] + verbs["failed"] == verbs["completed"]
    days = {statement["timestamp"][:10] for statement in statements}
    assert min(days) >= FIRST.isoformat()
