"""Mattermost through the real processes and broker: the outgoing-webhook receiver in `serve` and the REST poller
in `connect run`, against a local Mattermost."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from learnstream.settings import Settings
from producers.pseudonymise import person_pseudonym
from schemas.activity import Activity, ActivityKind, SourceSystem
from simulator.mattermost_api import MattermostServer, outgoing_webhook_body
from tests.integration.conftest import Serve
from tests.integration.support import TEST_KEYS, read_topic, run_cli, settings_env

SERVER = "chat.example.org"
TEAM = "t" * 26
CHANNEL = "c" * 26
ADA, GRACE = "a" * 26, "g" * 26
WEBHOOK_TOKEN = "mattermost-webhook-token"
API_TOKEN = "mattermost-api-token"


def setup_files(tmp_path: Path, api_url: str) -> Path:
    (tmp_path / "people.csv").write_text(
        f"person_id,email,team,valid_from,mattermost\ne1,ada@example.org,platform,2024-01-01,{ADA}\n"
        "e2,grace@example.org,support,2024-01-01,\n",
        encoding="utf-8",
    )
    path = tmp_path / "connectors.toml"
    path.write_text(
        f"""directory = "people.csv"

[[connectors]]
name = "mm-hook"
type = "mattermost-webhook"
server = "{SERVER}"
team_id = "{TEAM}"
token_env = "MM_WEBHOOK_TOKEN"

[[connectors]]
name = "mm-api"
type = "mattermost-api"
server = "{SERVER}"
api_url = "{api_url}"
token_env = "MM_API_TOKEN"
channels = ["{CHANNEL}"]
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
        "MM_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
        "MM_API_TOKEN": API_TOKEN,
        "LEARNSTREAM_HTTP__BACKOFF_BASE_S": "0.1",
    }


def webhook(base: str, token: str, post_id: str, as_json: bool) -> httpx.Response:
    body, content_type = outgoing_webhook_body(
        token=token,
        team_id=TEAM,
        team_domain="acme",
        channel_id=CHANNEL,
        channel_name="town-square",
        timestamp_ms=int(time.time() * 1000),
        user_id=ADA,
        user_name="ada",
        post_id=post_id,
        text="does anyone know how to rotate the deploy key?",
        as_json=as_json,
    )
    return httpx.post(f"{base}/hooks/mattermost/mm-hook", content=body, headers={"Content-Type": content_type})


def test_the_webhook_receiver_checks_the_token_and_publishes_once_acknowledged(
    settings: Settings, tmp_path: Path, start_serve: Serve
) -> None:
    _, base = start_serve(env_for(settings, setup_files(tmp_path, "http://127.0.0.1:9/api/v4/")))
    assert webhook(base, "wrong-token", "p" * 26, as_json=False).status_code == 401
    first = webhook(base, WEBHOOK_TOKEN, "p" * 26, as_json=False)
    assert first.status_code == 200 and first.json() == {}
    assert webhook(base, WEBHOOK_TOKEN, "p" * 26, as_json=True).status_code == 200  # delivered again, as JSON
    records = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_raw, expected=2)
    activities = [Activity.from_bytes(value) for _, value in records]
    assert len(activities) == 2, "the refused delivery must have produced nothing"
    assert activities[0].activity_id == activities[1].activity_id
    assert activities[0].source is SourceSystem.MATTERMOST
    assert activities[0].actor == person_pseudonym(TEST_KEYS["LEARNSTREAM_PSEUDONYM_KEY"].encode(), "e1")


def test_the_api_poller_reads_posts_replies_edits_and_reactions_and_resolves_people_by_email(
    settings: Settings, tmp_path: Path
) -> None:
    now = int(time.time() * 1000)
    with MattermostServer(API_TOKEN, ADA) as mattermost:
        mattermost.add_user(ADA, "ada", "ada@example.org")
        mattermost.add_user(GRACE, "grace", "grace@example.org")
        mattermost.add_channel(CHANNEL, "town-square", TEAM)
        mattermost.post("q" * 26, CHANNEL, ADA, now - 60_000, "how do I rotate the deploy key?")
        mattermost.post("r" * 26, CHANNEL, GRACE, now - 30_000, "see the runbook", root_id="q" * 26)
        mattermost.react("q" * 26, GRACE, "pray", now - 20_000)
        env = env_for(settings, setup_files(tmp_path, mattermost.api_url))
        mattermost.fail_next(429, retry_after="1")
        polled = run_cli(env, "connect", "run", "mm-api", "--once")
        checked = run_cli(env, "connect", "check", "mm-api")
    assert polled.returncode == 0, polled.stderr
    assert "try 2 in 1.0 s" in polled.stderr
    assert checked.returncode == 0, checked.stderr
    records = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_raw, expected=3)
    activities = {Activity.from_bytes(value).kind: Activity.from_bytes(value) for _, value in records}
    assert set(activities) == {ActivityKind.MESSAGE, ActivityKind.REPLY, ActivityKind.REACTION}
    key = TEST_KEYS["LEARNSTREAM_PSEUDONYM_KEY"].encode()
    assert activities[ActivityKind.MESSAGE].actor == person_pseudonym(key, "e1")  # by the account HR listed
    assert activities[ActivityKind.REPLY].actor == person_pseudonym(key, "e2")  # by the e-mail Mattermost gave
    assert activities[ActivityKind.REPLY].conversation == activities[ActivityKind.MESSAGE].conversation
    assert GRACE not in activities[ActivityKind.REACTION].native_id
