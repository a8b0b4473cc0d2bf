"""Both live sources through the real processes and broker: one person has one pseudonym in Slack and on the
wiki; the wiki poller honours a 429 and sets a malformed change aside in the dead-letter topic."""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from learnstream.settings import Settings
from producers.pseudonymise import person_pseudonym
from schemas.activity import Activity, SourceSystem
from schemas.dead_letter import DeadLetter
from simulator.mediawiki_api import MediaWikiApi
from simulator.mediawiki_wire import WikiChange
from tests.integration.conftest import Serve
from tests.integration.support import (
    PROJECT_ROOT,
    TEST_KEYS,
    learnstream_command,
    read_topic,
    run_cli,
    settings_env,
)
from tests.integration.test_serve import SECRET, TEAM, message_event, post

WIKI = "wiki.example.org"
PEOPLE = """person_id,email,team,department,manager_id,valid_from,slack,wiki
e100,ada.lovelace@example.org,platform,engineering,,2024-01-01,U0ASKER001,Ada Lovelace
e200,grace.hopper@example.org,support,operations,e100,2024-01-01,,Grace Hopper
"""


def connectors(tmp_path: Path, api_url: str) -> Path:
    (tmp_path / "people.csv").write_text(PEOPLE, encoding="utf-8")
    path = tmp_path / "connectors.toml"
    path.write_text(
        f"""
directory = "people.csv"

[[connectors]]
name = "acme-slack"
type = "slack-events"
workspace = "{TEAM}"
signing_secret_env = "ACME_SLACK_SIGNING_SECRET"

[[connectors]]
name = "wiki"
type = "mediawiki"
api_url = "{api_url}"
server_name = "{WIKI}"
namespaces = [0]
backfill_days = 1
poll_interval_s = 1
""",
        encoding="utf-8",
    )
    return path


def env_for(settings: Settings, connector_file: Path) -> dict[str, str]:
    return {
        **settings_env(settings),
        **TEST_KEYS,
        "LEARNSTREAM_CONNECTORS_FILE": str(connector_file),
        "ACME_SLACK_SIGNING_SECRET": SECRET,
        "LEARNSTREAM_HTTP__BACKOFF_BASE_S": "0.1",
    }


def change(rcid: int, user: str, minutes_ago: int, **extra: object) -> WikiChange:
    return WikiChange(
        rcid=rcid,
        revid=1000 + rcid,
        old_revid=999 + rcid,
        type="edit",
        namespace=0,
        title="Deploy keys",
        user=user,
        timestamp=datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes_ago),
        oldlen=100,
        newlen=180,
        comment="how to rotate them",
        extra=extra,
    )


def test_one_person_has_one_pseudonym_in_slack_and_on_the_wiki(
    settings: Settings, tmp_path: Path, start_serve: Serve
) -> None:
    with MediaWikiApi(WIKI, [change(1, "Ada Lovelace", 30), change(2, "Grace Hopper", 20)]) as wiki:
        env = env_for(settings, connectors(tmp_path, wiki.api_url))
        _, base = start_serve(env)
        assert post(base, message_event("1700000100.000002")).status_code == 200
        polled = run_cli(env, "connect", "run", "wiki", "--once")
        assert polled.returncode == 0, polled.stderr
        checked = run_cli(env, "connect", "check", "wiki")
    assert checked.returncode == 0, checked.stderr
    assert "2 seen, 2 resolved through the directory, 0 unresolved" in checked.stdout

    records = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_raw, expected=3)
    activities = [Activity.from_bytes(value) for _, value in records]
    by_source = {(a.source, a.native_id): a.actor for a in activities}
    ada = person_pseudonym(TEST_KEYS["LEARNSTREAM_PSEUDONYM_KEY"].encode(), "e100")
    grace = person_pseudonym(TEST_KEYS["LEARNSTREAM_PSEUDONYM_KEY"].encode(), "e200")
    assert by_source[(SourceSystem.SLACK, "C0GENERAL1/1700000100.000002")] == ada
    assert by_source[(SourceSystem.MEDIAWIKI, "rev/1001")] == ada
    assert by_source[(SourceSystem.MEDIAWIKI, "rev/1002")] == grace
    assert len(activities) == 3


def test_the_wiki_poller_honours_a_429_and_dead_letters_a_malformed_change(settings: Settings, tmp_path: Path) -> None:
    changes = [change(1, "Ada Lovelace", 30), change(2, "Grace Hopper", 20, title=None), change(3, "Nobody", 10)]
    with MediaWikiApi(WIKI, changes) as wiki:
        env = env_for(settings, connectors(tmp_path, wiki.api_url))
        wiki.fail_next(429, retry_after="1")
        started = time.monotonic()
        polled = run_cli(env, "connect", "run", "wiki", "--once")
        took = time.monotonic() - started
        polls = wiki.api_requests(list="recentchanges")
        second = run_cli(env, "connect", "run", "wiki", "--once")
    assert polled.returncode == 0, polled.stderr
    assert "try 2 in 1.0 s" in polled.stderr  # the Retry-After, not the 0.1 s backoff
    assert took >= 1.0
    assert len(polls) >= 2  # the refused request and its retry

    raw = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_raw, expected=2)
    assert sorted(Activity.from_bytes(value).native_id for _, value in raw) == ["rev/1001", "rev/1003"]
    ((_, value),) = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_dlq, expected=1)
    letter = DeadLetter.from_bytes(value)
    assert letter.reason.value == "source_record_invalid" and letter.source_topic == f"mediawiki:{WIKI}"
    assert "title" in letter.detail
    assert second.returncode == 0 and "published 0 records" in second.stdout


def test_connect_check_names_a_missing_secret_and_run_refuses_a_receiver(settings: Settings, tmp_path: Path) -> None:
    env = env_for(settings, connectors(tmp_path, "http://127.0.0.1:9/w/api.php"))
    del env["ACME_SLACK_SIGNING_SECRET"]
    missing = run_cli(env, "connect", "check", "acme-slack")
    assert missing.returncode == 2 and "ACME_SLACK_SIGNING_SECRET, which is not set" in missing.stderr
    receiver = run_cli({**env, "ACME_SLACK_SIGNING_SECRET": SECRET}, "connect", "run", "acme-slack")
    assert receiver.returncode == 2 and "`learnstream serve` runs it" in receiver.stderr


def test_a_following_connector_stops_on_sigterm_with_its_cursor_saved_and_resumes_after_it(
    settings: Settings, tmp_path: Path
) -> None:
    with MediaWikiApi(WIKI, [change(1, "Ada Lovelace", 30)]) as wiki:
        env = env_for(settings, connectors(tmp_path, wiki.api_url))
        log = (tmp_path / "follow.log").open("w+")
        process = subprocess.Popen(
            learnstream_command("--log-level", "debug", "connect", "run", "wiki"),
            env=env,
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=log,
            text=True,
        )
        read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_raw, expected=1)
        wiki.append(change(2, "Grace Hopper", 0))  # a change while it follows
        read_topic(settings.kafka.bootstrap_servers, settings.topics.names.activity_raw, expected=2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, Path(log.name).read_text()[-2000:]
        assert "published 2 records" in Path(log.name).read_text() and "(stopped)" in Path(log.name).read_text()
        listed = run_cli(env, "connect", "list")
    assert listed.returncode == 0
    (wiki_row,) = [line for line in listed.stdout.splitlines() if line.startswith("wiki ")]
    assert '"phase":"recentchanges"' in wiki_row and '"last_id":2' in wiki_row


def test_the_directory_connector_publishes_pseudonyms_and_teams_only(settings: Settings, tmp_path: Path) -> None:
    path = connectors(tmp_path, "http://127.0.0.1:9/w/api.php")
    path.write_text(path.read_text() + '\n[[connectors]]\nname = "people"\ntype = "directory"\n', encoding="utf-8")
    env = env_for(settings, path)
    published = run_cli(env, "connect", "run", "people", "--once")
    assert published.returncode == 0, published.stderr
    records = read_topic(settings.kafka.bootstrap_servers, settings.topics.names.directory, expected=2)
    key = TEST_KEYS["LEARNSTREAM_PSEUDONYM_KEY"].encode()
    assert sorted(k for k, _ in records) == sorted(person_pseudonym(key, p).encode() for p in ("e100", "e200"))
    assert not any(b"example.org" in value or b"Ada" in value or b"e100" in value for _, value in records)
    again = run_cli(env, "connect", "run", "people", "--once")
    assert "published 0 records" in again.stdout


def test_connectors_refuse_the_development_keys_unless_development_is_set(settings: Settings, tmp_path: Path) -> None:
    env = env_for(settings, connectors(tmp_path, "http://127.0.0.1:9/w/api.php"))
    for variable in TEST_KEYS:
        del env[variable]
    refused = run_cli(env, "connect", "run", "wiki", "--once")
    assert refused.returncode == 2 and "LEARNSTREAM_PSEUDONYM_KEY is not set" in refused.stderr
    assert "Traceback" not in refused.stderr
    short = run_cli({**env, **TEST_KEYS, "LEARNSTREAM_ID_KEY": "short"}, "connect", "check", "wiki")
    assert short.returncode == 2 and "LEARNSTREAM_ID_KEY is too short" in short.stderr
