"""Confluence through the real processes and broker: the Data Center webhook receiver in `serve` and the Cloud
poller in `connect run`, against a local Confluence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from learnstream.settings import Settings
from producers.pseudonymise import person_pseudonym
from schemas.activity import Activity, ActivityKind, SourceSystem
from simulator.confluence_api import ConfluenceApi, User, dc_page, webhook_delivery
from tests.integration.conftest import Serve
from tests.integration.support import TEST_KEYS, read_topic, run_cli, settings_env

SITE = "acme.atlassian.net"
DC_SITE = "wiki.corp.example"
SECRET = "confluence-webhook-secret"
ADA, GRACE = "557058:ada-account", "557058:grace-account"


def setup_files(tmp_path: Path, base_url: str) -> Path:
    (tmp_path / "people.csv").write_text(
        f"person_id,email,team,valid_from,confluence\ne1,ada@example.org,platform,2024-01-01,{ADA}\n"
        "e2,grace@example.org,support,2024-01-01,\n",
        encoding="utf-8",
    )
    path = tmp_path / "connectors.toml"
    path.write_text(
        f"""directory = "people.csv"

[[connectors]]
name = "wiki-dc"
type = "confluence-webhook"
site = "{DC_SITE}"
secret_env = "CONFLUENCE_WEBHOOK_SECRET"

[[connectors]]
name = "wiki-cloud"
type = "confluence-cloud"
site = "{SITE}"
base_url = "{base_url}"
email = "bot@acme.example"
api_token_env = "CONFLUENCE_API_TOKEN"
spaces = ["ENG"]
backfill_days = 1
""",
        encoding="utf-8",
    )
    return path


def env_for(settings: Settings, connectors: Path) -> dict[str, str]:
    return {
        **settings_env(settings),
        **TEST_KEYS,
        "LEARNSTREAM_CONNECTORS_FILE": str(connectors),
        "CONFLUENCE_WEBHOOK_SECRET": SECRET,
        "CONFLUENCE_API_TOKEN": "api-token",
        "LEARNSTREAM_HTTP__BACKOFF_BASE_S": "0.1",
    }


def test_the_webhook_receiver_checks_the_signature_and_a_redelivery_is_the_same_activity(
    settings: Settings, tmp_path: Path, start_serve: Serve
) -> None:
    _, base = start_serve(env_for(settings, setup_files(tmp_path, "http://127.0.0.1:9")))
    now = datetime.now(UTC).replace(microsecond=0)
    page = dc_page(4242, "ENG", "Deploy keys", 2, ADA, ADA, now - timedelta(days=1), now)
    body, headers = webhook_delivery("page_updated", SECRET.encode(), ADA, now, page=page)
    forged, forged_headers = webhook_delivery("page_updated", b"not-the-secret", ADA, now, page=page)
    url = f"{base}/hooks/confluence/wiki-dc"
    assert httpx.post(url, content=forged, headers=forged_headers).status_code == 401
    assert httpx.post(url, content=body, headers=headers).status_code == 200
    assert httpx.post(url, content=body, headers=headers).status_code == 200  # delivered again
    records = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_raw, expected=2)
    activities = [Activity.from_bytes(value) for _, value in records]
    assert len(activities) == 2, "the forged delivery must have produced nothing"
    assert activities[0].activity_id == activities[1].activity_id
    assert activities[0].kind is ActivityKind.PAGE_EDITED and activities[0].source is SourceSystem.CONFLUENCE


def test_the_cloud_poller_reads_versions_and_comments_and_honours_a_429(settings: Settings, tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    users = [User(ADA, "Ada"), User(GRACE, "Grace", "grace@example.org")]
    with ConfluenceApi(SITE, users=users) as confluence:
        page = confluence.add_page("ENG", "Deploy keys", ADA, now - timedelta(hours=3), "first draft")
        confluence.edit_page(page, GRACE, now - timedelta(hours=2), "added the rotation steps")
        confluence.add_comment(page, GRACE, now - timedelta(hours=1))
        env = env_for(settings, setup_files(tmp_path, confluence.base_url))
        confluence.fail_next(429, retry_after="1")
        polled = run_cli(env, "connect", "run", "wiki-cloud", "--once")
        again = run_cli(env, "connect", "run", "wiki-cloud", "--once")
    assert polled.returncode == 0, polled.stderr
    assert "try 2 in 1.0 s" in polled.stderr
    assert again.returncode == 0 and "published 0 records" in again.stdout
    records = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_raw, expected=3)
    activities = {Activity.from_bytes(value).kind: Activity.from_bytes(value) for _, value in records}
    assert set(activities) == {ActivityKind.PAGE_CREATED, ActivityKind.PAGE_EDITED, ActivityKind.PAGE_COMMENTED}
    key = TEST_KEYS["LEARNSTREAM_PSEUDONYM_KEY"].encode()
    assert activities[ActivityKind.PAGE_CREATED].actor == person_pseudonym(key, "e1")  # by the listed account id
    assert activities[ActivityKind.PAGE_EDITED].actor == person_pseudonym(key, "e2")  # by the e-mail shown
    assert len({a.conversation for a in activities.values()}) == 1
