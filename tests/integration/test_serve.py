"""`learnstream serve` as a real process against the real broker: signed Slack events in, activities on the raw
topic only after the broker acknowledged them; refused requests produce nothing; no broker means 503."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from learnstream.settings import Settings
from producers.chat.slack_events import slack_signature
from schemas.activity import Activity, ActivityKind
from schemas.dead_letter import DeadLetter
from tests.integration.conftest import Serve
from tests.integration.support import (
    PROJECT_ROOT,
    TEST_KEYS,
    free_port,
    learnstream_command,
    read_topic,
    settings_env,
    topic_size,
)

SECRET = "integration-signing-secret"
TEAM = "T0INTEGRATE"
CONNECTORS = f"""
[[connectors]]
name = "acme-slack"
type = "slack-events"
workspace = "{TEAM}"
signing_secret_env = "ACME_SLACK_SIGNING_SECRET"
"""


def serve_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    connectors = tmp_path / "connectors.toml"
    connectors.write_text(CONNECTORS, encoding="utf-8")
    return {
        **settings_env(settings),
        **TEST_KEYS,
        "LEARNSTREAM_CONNECTORS_FILE": str(connectors),
        "ACME_SLACK_SIGNING_SECRET": SECRET,
    }


def post(base: str, body: dict[str, Any], secret: str = SECRET, **headers: str) -> httpx.Response:
    raw = json.dumps(body).encode()
    timestamp = str(int(time.time()))
    signed = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": slack_signature(secret.encode(), timestamp, raw),
        **headers,
    }
    return httpx.post(f"{base}/hooks/slack/acme-slack", content=raw, headers=signed, timeout=30)


def message_event(ts: str, text: str = "how do I get access to the staging cluster?") -> dict[str, Any]:
    return {
        "token": "unused",
        "team_id": TEAM,
        "api_app_id": "A0TEST",
        "type": "event_callback",
        "event_id": f"Ev{ts.replace('.', '')}",
        "event_time": int(float(ts)),
        "event": {
            "type": "message",
            "channel": "C0GENERAL1",
            "channel_type": "channel",
            "user": "U0ASKER001",
            "text": text,
            "ts": ts,
            "event_ts": ts,
        },
    }


def test_signed_events_are_published_and_acknowledged_and_a_bad_signature_produces_nothing(
    settings: Settings, tmp_path: Path, start_serve: Serve
) -> None:
    _, base = start_serve(serve_env(settings, tmp_path))
    raw = settings.topics.names.activity_raw

    refused = post(base, message_event("1700000000.000001"), secret="not-the-signing-secret")
    assert refused.status_code == 401
    unsigned = httpx.post(f"{base}/hooks/slack/acme-slack", content=b"{}", timeout=30)
    assert unsigned.status_code == 401

    challenge = post(base, {"type": "url_verification", "challenge": "c-123", "token": "unused"})
    assert challenge.status_code == 200 and challenge.json() == {"challenge": "c-123"}

    accepted = post(base, message_event("1700000100.000002"))
    assert accepted.status_code == 200
    # acknowledged means the broker has it: the record is readable as soon as the answer arrived
    assert topic_size(settings.kafka.bootstrap_servers, raw) == 1
    retried = post(
        base, message_event("1700000100.000002"), **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    )
    assert retried.status_code == 200

    records = read_topic(settings.kafka.bootstrap_servers, raw, expected=2)
    activities = [Activity.from_bytes(value) for _, value in records]
    assert len(activities) == 2, "the refused request must have produced nothing"
    assert activities[0].activity_id == activities[1].activity_id  # a Slack retry is the same activity
    assert activities[0].kind is ActivityKind.MESSAGE and activities[0].source_instance == TEAM
    assert {key for key, _ in records} == {activities[0].conversation_key.encode()}
    metrics = httpx.get(f"{base}/metrics", timeout=30).text  # the receiver's counters on serve's /metrics
    assert f'learnstream_connector_activities_total{{connector="acme-slack",topic="{raw}"}} 2.0' in metrics
    assert 'learnstream_connector_dead_letters_total{connector="acme-slack"' not in metrics


def test_an_unmappable_signed_event_is_acknowledged_and_dead_lettered(
    settings: Settings, tmp_path: Path, start_serve: Serve
) -> None:
    _, base = start_serve(serve_env(settings, tmp_path))
    broken = message_event("1700000200.000003")
    del broken["event"]["ts"]
    assert post(base, broken).status_code == 200
    ((_, value),) = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_dlq, expected=1)
    letter = DeadLetter.from_bytes(value)
    assert letter.reason.value == "source_record_invalid" and letter.stage == "connector"
    assert json.loads(letter.original)["event_id"] == broken["event_id"]
    assert topic_size(settings.kafka.bootstrap_servers, settings.topics.names.activity_raw) == 0
    metrics = httpx.get(f"{base}/metrics", timeout=30).text
    assert 'learnstream_connector_dead_letters_total{connector="acme-slack",reason="source_record_invalid"} 1.0' in (
        metrics
    )


def test_without_a_broker_serve_is_alive_not_ready_and_answers_503_with_retry_after(
    settings: Settings, tmp_path: Path, start_serve: Serve
) -> None:
    env = {**serve_env(settings, tmp_path), "LEARNSTREAM_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}
    env["LEARNSTREAM_KAFKA__CONNECT_TIMEOUT_S"] = "2"
    _, base = start_serve(env, wait_ready=False)
    assert httpx.get(f"{base}/ready", timeout=10).status_code == 503
    answer = post(base, message_event("1700000300.000004"))
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"


def test_a_body_over_the_limit_is_413_and_sigterm_stops_serve_cleanly(
    settings: Settings, tmp_path: Path, start_serve: Serve
) -> None:
    process, base = start_serve(serve_env(settings, tmp_path))
    too_big = httpx.post(f"{base}/hooks/slack/acme-slack", content=b"x" * 1_048_577, timeout=30)
    assert too_big.status_code == 413
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def test_serve_refuses_the_development_keys_with_one_line_naming_the_setting(
    settings: Settings, tmp_path: Path
) -> None:
    env = {key: value for key, value in serve_env(settings, tmp_path).items() if key not in TEST_KEYS}
    done = subprocess.run(
        learnstream_command("serve", "--port", str(free_port())),
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "LEARNSTREAM_PSEUDONYM_KEY is not set" in done.stderr
    assert "Traceback" not in done.stderr
