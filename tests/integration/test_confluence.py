"""Confluence through the real processes and broker: the Data Center webhook receiver in `serve` and the Cloud
poller in `connect run`, against a local Confluence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from learnstream.settings import Settings
from producers.pseudonymise import person_pseudonym
from schemas.activity import Activity, ActivityKind, SourceSystem
from simulator.confluence_api import (
    ConfluenceApi,
    ConfluenceDataCenterApi,
    User,
    dc_page,
    id_only_delivery,
    webhook_delivery,
)
from tests.integration.conftest import Serve
from tests.integration.support import TEST_KEYS, read_topic, run_cli, settings_env

SITE = "acme.atlassian.net"
DC_SITE = "wiki.corp.example"
SECRET = "confluence-webhook-secret"
ADA, GRACE = "557058:ada-account", "557058:grace-account"
DC_TOKEN = "dc-personal-access-token"


def setup_files(tmp_path: Path, base_url: str, dc_api_url: str | None = None) -> Path:
    (tmp_path / "people.csv").write_text(
        f"person_id,email,team,valid_from,confluence\ne1,ada@example.org,platform,2024-01-01,{ADA}\n"
        "e2,grace@example.org,support,2024-01-01,\n",
        encoding="utf-8",
    )
    path = tmp_path / "connectors.toml"
    call_back = f'api_url = "{dc_api_url}"\ntoken_env = "CONFLUENCE_DC_TOKEN"\n' if dc_api_url else ""
    path.write_text(
        f"""directory = "people.csv"

[[connectors]]
name = "wiki-dc"
type = "confluence-webhook"
site = "{DC_SITE}"
secret_env = "CONFLUENCE_WEBHOOK_SECRET"
{call_back}
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
        "CONFLUENCE_DC_TOKEN": DC_TOKEN,
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


def test_id_only_deliveries_are_read_back_from_data_center_as_the_same_activities(
    settings: Settings, tmp_path: Path, start_serve: Serve
) -> None:
    with ConfluenceDataCenterApi(DC_SITE, token=DC_TOKEN, context_path="/confluence", users=[User(ADA, "Ada")]) as dc:
        env = env_for(settings, setup_files(tmp_path, "http://127.0.0.1:9", dc.url))
        _, base = start_serve({**env, "LEARNSTREAM_HTTP__MAX_ATTEMPTS": "2"})
        url = f"{base}/hooks/confluence/wiki-dc"
        now = datetime.now(UTC).replace(microsecond=0)
        page = dc.add_page("ENG", "Deploy keys", ADA, now - timedelta(hours=2))
        created = id_only_delivery("page_created", SECRET.encode(), ADA, now, page_id=int(page))

        dc.fail_next(503, times=2)  # Data Center failing: every try of the read-back
        failing = httpx.post(url, content=created[0], headers=created[1])
        assert failing.status_code == 503 and failing.headers["Retry-After"]
        dc.token = "rotated"  # the connector's token is refused now
        refused = httpx.post(url, content=created[0], headers=created[1])
        assert refused.status_code == 503 and "CONFLUENCE_DC_TOKEN" in refused.text
        dc.token = DC_TOKEN

        def deliver(event: str, user_key: str, page_id: str, comment_id: str | None = None) -> None:
            """The full payload, then the id-only one, of the same event."""
            secret = SECRET.encode()
            if comment_id is None:
                full = webhook_delivery(event, secret, user_key, now, page=dc.page_payload(page_id))
                short = id_only_delivery(event, secret, user_key, now, page_id=int(page_id))
            else:
                full = webhook_delivery(event, secret, user_key, now, comment=dc.comment_payload(comment_id))
                short = id_only_delivery(event, secret, user_key, now, comment_id=int(comment_id))
            for body, headers in (full, short):
                assert httpx.post(url, content=body, headers=headers).status_code == 200

        deliver("page_created", ADA, page)
        dc.edit_page(page, GRACE, now - timedelta(hours=1), "rotation steps")
        deliver("page_updated", GRACE, page)
        comment = dc.add_comment(page, GRACE, now - timedelta(minutes=30))
        deliver("comment_created", GRACE, page, comment)
    names = settings.topics.names
    records = read_topic(settings.kafka.bootstrap_servers, names.activity_raw, expected=6)
    activities = [Activity.from_bytes(value) for _, value in records]
    assert len(activities) == 6, "the refused deliveries must have produced nothing"
    by_id: dict[str, list[Activity]] = {}
    for activity in activities:
        by_id.setdefault(activity.activity_id, []).append(activity)
    assert sorted(a[0].native_id for a in by_id.values()) == sorted(
        [f"page/{page}/v/1", f"page/{page}/v/2", f"comment/{comment}/v/1"]
    )
    assert all(len(pair) == 2 and pair[0].actor == pair[1].actor for pair in by_id.values())  # full and read back
    assert read_topic(settings.kafka.bootstrap_servers, names.activity_dlq, expected=0, timeout=2) == []


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
        confluence.trash_page(page)  # search no longer sees it; the trash listing does
        trashed = run_cli(env, "connect", "run", "wiki-cloud", "--once")
        restarted = run_cli(env, "connect", "run", "wiki-cloud", "--once")
    assert polled.returncode == 0, polled.stderr
    assert "try 2 in 1.0 s" in polled.stderr
    assert again.returncode == 0 and "published 0 records" in again.stdout
    assert trashed.returncode == 0 and "published 1 records" in trashed.stdout, trashed.stdout + trashed.stderr
    assert restarted.returncode == 0 and "published 0 records" in restarted.stdout
    records = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_raw, expected=4)
    assert len(records) == 4
    activities = {Activity.from_bytes(value).kind: Activity.from_bytes(value) for _, value in records}
    assert set(activities) == {
        ActivityKind.PAGE_CREATED,
        ActivityKind.PAGE_EDITED,
        ActivityKind.PAGE_COMMENTED,
        ActivityKind.ITEM_DELETED,
    }
    assert activities[ActivityKind.ITEM_DELETED].native_id == f"page/{page}/deleted"
    key = TEST_KEYS["LEARNSTREAM_PSEUDONYM_KEY"].encode()
    assert activities[ActivityKind.PAGE_CREATED].actor == person_pseudonym(key, "e1")  # by the listed account id
    assert activities[ActivityKind.PAGE_EDITED].actor == person_pseudonym(key, "e2")  # by the e-mail shown
    assert len({a.conversation for a in activities.values()}) == 1
