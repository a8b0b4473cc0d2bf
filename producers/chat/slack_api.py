"""The few Slack Web API methods a connector calls: `auth.test` and `users.list` (e-mails to resolve people).

Slack answers most errors with HTTP 200 and `{"ok": false, "error": "..."}`; authentication and scope errors
become a ConfigError naming the token's variable. Rate limits come as 429 with Retry-After, which the shared
HTTP client honours.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from learnstream.errors import ConfigError, ConnectorError
from producers.http_client import SourceHttpClient

#: Errors that mean the token or its scopes are wrong: an operator must fix the configuration.
CONFIGURATION_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "no_permission",
    }
)
PAGE_SIZE = 200


class SlackApi:
    """Slack Web API calls over the shared HTTP client (its base URL ends in `/api/`)."""

    def __init__(self, client: SourceHttpClient, token_setting: str) -> None:
        self.client = client
        self.token_setting = token_setting

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One method's answer, once it says `ok`."""
        answer = self.client.get_json(method, params)
        if not isinstance(answer, dict):
            raise ConnectorError(f"Slack answered {method} with something other than a JSON object")
        if not answer.get("ok"):
            error = str(answer.get("error"))
            if error in CONFIGURATION_ERRORS:
                needed = f" (needed: {answer['needed']})" if answer.get("needed") else ""
                raise ConfigError(f"Slack refused {method}: {error}{needed}; check the token in {self.token_setting}")
            raise ConnectorError(f"Slack answered {method} with error {error}")
        return answer

    def team_id(self) -> str:
        """The workspace the token belongs to (`auth.test`)."""
        return str(self.call("auth.test")["team_id"])

    def pages(self, method: str, field: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of a paged list method (its `field`), following `response_metadata.next_cursor`."""
        cursor = ""
        while True:
            answer = self.call(method, {**params, "limit": PAGE_SIZE, **({"cursor": cursor} if cursor else {})})
            yield from (item for item in answer.get(field) or [] if isinstance(item, dict))
            cursor = str((answer.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return

    def users(self) -> Iterator[dict[str, Any]]:
        """Every member of the workspace (`users.list`)."""
        return self.pages("users.list", "members", {})

    def channel_types(self) -> dict[str, str]:
        """Channel id -> `channel` or `group` (private) for the channels the token can see (`conversations.list`,
        needs `channels:read` and `groups:read`)."""
        channels = self.pages("conversations.list", "channels", {"types": "public_channel,private_channel"})
        return {str(c["id"]): "group" if c.get("is_private") else "channel" for c in channels if c.get("id")}

    def user_emails(self) -> dict[str, str]:
        """User id -> e-mail address, for the users whose profile shows one (needs `users:read.email`)."""
        emails = {}
        for user in self.users():
            profile = user.get("profile") or {}
            if isinstance(profile, dict) and isinstance(profile.get("email"), str) and user.get("id"):
                emails[str(user["id"])] = profile["email"]
        return emails
