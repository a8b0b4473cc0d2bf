"""The Slack Web API calls of the receiver (`auth.test`, `users.list`, `conversations.list`), against a local
server answering as Slack documents: HTTP 200 with `ok`, cursor paging, errors as `{"ok": false}`, 429s."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from learnstream.errors import ConfigError
from learnstream.settings import HttpSettings, Settings
from producers.chat.slack_api import SlackApi
from producers.connector_config import SlackEventsConfig
from producers.directory import directory_from_csv
from producers.http_client import SourceHttpClient
from producers.registry import ConnectorContext, build_slack_events

TOKEN = "xoxb-test-token"
TEAM = "T0001ABCD"
MEMBERS = [
    {"id": "U0000000A1", "team_id": TEAM, "name": "ada", "is_bot": False, "profile": {"email": "ada@example.org"}},
    {"id": "U0000000B2", "team_id": TEAM, "name": "grace", "is_bot": False, "profile": {"email": "grace@example.org"}},
    {"id": "U0000000C3", "team_id": TEAM, "name": "contractor", "is_bot": False, "profile": {}},
    {"id": "U0000000D4", "team_id": TEAM, "name": "deploybot", "is_bot": True, "profile": {}},
]
CHANNELS = [{"id": "C0PUBLIC01", "is_private": False}, {"id": "C0SECRET01", "is_private": True}]


class FakeSlack:
    """Answers auth.test, users.list (two members per page) and conversations.list; can refuse or rate-limit."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, list[str]], str]] = []
        self.error: str | None = None
        self.rate_limited = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                params = parse_qs(url.query)
                fake.calls.append((url.path, params, self.headers.get("Authorization", "")))
                if fake.rate_limited:
                    fake.rate_limited -= 1
                    self.send_response(429)
                    self.send_header("Retry-After", "1")
                    self.end_headers()
                    return
                self.answer(fake.answer(url.path.rsplit("/", 1)[-1], params, self.headers.get("Authorization", "")))

            def answer(self, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, method: str, params: dict[str, list[str]], authorization: str) -> dict[str, Any]:
        if authorization != f"Bearer {TOKEN}":
            return {"ok": False, "error": "not_authed"}
        if self.error:
            return {"ok": False, "error": self.error, "needed": "users:read.email"}
        if method == "auth.test":
            return {"ok": True, "team_id": TEAM, "user_id": "U0000000D4"}
        if method == "users.list":
            start = int(params.get("cursor", ["0"])[0])
            page = MEMBERS[start : start + 2]
            following = str(start + 2) if start + 2 < len(MEMBERS) else ""
            return {"ok": True, "members": page, "response_metadata": {"next_cursor": following}}
        if method == "conversations.list":
            assert params["types"] == ["public_channel,private_channel"]
            return {"ok": True, "channels": CHANNELS, "response_metadata": {"next_cursor": ""}}
        return {"ok": False, "error": "unknown_method"}


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.server.shutdown()


def api(slack: FakeSlack, token: str = TOKEN, sleeps: list[float] | None = None) -> SlackApi:
    settings = HttpSettings(max_attempts=3, backoff_base_s=0.01)
    sleep = sleeps.append if sleeps is not None else lambda _s: None
    client = SourceHttpClient("slack", slack.url, settings, {"Authorization": f"Bearer {token}"}, "TOKEN_VAR", sleep)
    return SlackApi(client, "TOKEN_VAR")


def test_users_are_read_across_pages_with_their_emails(slack: FakeSlack):
    assert api(slack).user_emails() == {"U0000000A1": "ada@example.org", "U0000000B2": "grace@example.org"}
    cursors = [params.get("cursor") for path, params, _ in slack.calls if path.endswith("users.list")]
    assert cursors == [None, ["2"]]


def test_channel_types_come_from_conversations_list(slack: FakeSlack):
    assert api(slack).channel_types() == {"C0PUBLIC01": "channel", "C0SECRET01": "group"}


def test_an_auth_or_scope_error_is_a_config_error_naming_the_variable(slack: FakeSlack):
    with pytest.raises(ConfigError, match="not_authed; check the token in TOKEN_VAR"):
        api(slack, token="xoxb-wrong").team_id()
    slack.error = "missing_scope"
    with pytest.raises(ConfigError, match=r"missing_scope \(needed: users:read.email\)"):
        api(slack).user_emails()


def test_a_429_is_retried_after_its_retry_after(slack: FakeSlack):
    slack.rate_limited = 1
    sleeps: list[float] = []
    assert api(slack, sleeps=sleeps).team_id() == TEAM
    assert sleeps == [1.0]


def test_connect_check_of_a_receiver_with_a_bot_token_counts_unresolved_people(slack: FakeSlack):
    directory = directory_from_csv(
        "person_id,email,team,valid_from,slack\ne1,ada@example.org,platform,2024-01-01,\n"
        "e2,grace.hopper@example.org,support,2024-01-01,U0000000B2\n"
    )
    settings = Settings(development=True)
    environment = {"SECRET_VAR": "signing-secret", "TOKEN_VAR": TOKEN}
    context = ConnectorContext(settings, directory, None, environment)
    config = SlackEventsConfig(
        name="acme",
        type="slack-events",
        workspace=TEAM,
        signing_secret_env="SECRET_VAR",
        bot_token_env="TOKEN_VAR",
        api_url=slack.url,
    )
    receiver = build_slack_events(config, context)
    report = receiver.check()
    # ada resolves by e-mail, grace by the account HR listed, the contractor not at all; the bot is not a person
    assert (report.accounts_seen, report.unresolved_accounts) == (3, 1)
    assert any("token works for workspace" in line for line in report.lines())
    assert receiver.channel_types == {"C0PUBLIC01": "channel", "C0SECRET01": "group"}


def test_a_token_of_another_workspace_fails_the_check(slack: FakeSlack):
    context = ConnectorContext(
        Settings(development=True), directory_from_csv("person_id,team,valid_from\n"), None, {"S": "s", "T": TOKEN}
    )
    config = SlackEventsConfig(
        name="other",
        type="slack-events",
        workspace="T0OTHER01",
        signing_secret_env="S",
        bot_token_env="T",
        api_url=slack.url,
    )
    with pytest.raises(ConfigError, match="belongs to workspace T0001ABCD, not T0OTHER01"):
        build_slack_events(config, context).check()
