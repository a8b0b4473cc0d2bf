"""The bundled sample: real recorded source data (Slack export, Wikimedia, xAPI) turned into activity JSONL."""

from __future__ import annotations

import json
from pathlib import Path

from producers.chat.slack_export import activities_from_export
from producers.elearning.xapi import activity_from_statement
from producers.pseudonymise import account_ids, pseudonymiser
from producers.wiki.mediawiki import activity_from_recentchange
from schemas.activity import Activity, SourceSystem

SLACK_EXPORT = Path("slack-export/slack-export-sample.zip")
WIKIMEDIA = Path("wikimedia/recentchange-enwiki-2023-07-29.ndjson")
XAPI = Path("xapi/datasim-tccc-statements.json")
SLACK_INSTANCE = "mesos-magellan"
XAPI_INSTANCE = "datasim-tccc"


def build_sample(data_dir: Path, key: bytes, id_key: bytes, xapi_limit: int = 300) -> list[Activity]:
    """Activities from the recordings in `data_dir` (shared/data): all Slack and Wikimedia, the first xAPI ones."""
    slack = pseudonymiser(key, "slack", SLACK_INSTANCE), account_ids(id_key, "slack", SLACK_INSTANCE)
    activities = list(activities_from_export(data_dir / SLACK_EXPORT, SLACK_INSTANCE, *slack))
    for line in (data_dir / WIKIMEDIA).read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        wiki_pseudonymiser = pseudonymiser(key, SourceSystem.MEDIAWIKI.value, str(event["server_name"]))
        activity = activity_from_recentchange(event, wiki_pseudonymiser)
        if activity is not None:
            activities.append(activity)
    statements = json.loads((data_dir / XAPI).read_text(encoding="utf-8"))[:xapi_limit]
    xapi_pseudonymiser = pseudonymiser(key, SourceSystem.XAPI.value, XAPI_INSTANCE)
    activities.extend(activity_from_statement(statement, XAPI_INSTANCE, xapi_pseudonymiser) for statement in statements)
    return activities


def write_jsonl(activities: list[Activity], path: Path) -> None:
    """One activity per line, as it travels on Kafka."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        for activity in activities:
            handle.write(activity.to_bytes() + b"\n")
