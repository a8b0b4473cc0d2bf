"""The Mattermost outgoing-webhook receiver: check the shared token, map the post to one message activity.

Mattermost posts `application/x-www-form-urlencoded` or `application/json`, as the webhook is configured, with
`token`, `team_id`, `team_domain`, `channel_id`, `channel_name`, `timestamp`, `user_id`, `user_name`,
`post_id`, `text`, `trigger_word` and `file_ids` (comma-separated). The form body gives `timestamp` in seconds,
the JSON body in milliseconds. The token is inside the body, so the body is read first; a body without the
right token is refused with 401 before anything is mapped.

Outgoing webhooks fire for new posts in public channels only, and carry no edits, deletions, reactions or
thread roots: a reply arrives as a message in its own conversation. The REST API poller
(`producers/chat/mattermost_api.py`) has all of them. The answer is `{}`: Mattermost posts nothing back.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from learnstream.errors import RequestRejected
from producers.chat.mattermost import MAPPING_ERRORS, MattermostChannel, MattermostScope, post_activities
from producers.contracts import CheckReport, OutgoingRecord, Receipt, ReceivedRequest
from producers.dead_letters import source_dead_letter
from schemas.activity import SourceSystem

logger = logging.getLogger(__name__)

#: The answer that makes Mattermost post nothing in the channel.
EMPTY_ANSWER = b"{}"
#: Outgoing webhooks fire in public (open) channels only.
PUBLIC_CHANNEL = "O"


def webhook_fields(request: ReceivedRequest) -> dict[str, Any]:
    """The fields of a webhook body, JSON or form by its Content-Type; a 401 for a body that is neither (its token
    cannot be checked, so nothing of it is trusted)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == "application/json":
            document = json.loads(request.body)
            if not isinstance(document, dict):
                raise ValueError("not a JSON object")
            return document
        return dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
    except (UnicodeDecodeError, ValueError):
        raise RequestRejected(401, f"the body is not a readable {content_type or 'form'} body with a token") from None


def post_from_webhook(fields: Mapping[str, Any], form: bool) -> dict[str, Any]:
    """The webhook's fields as an API post object (what `post_activities` maps); `timestamp` to milliseconds."""
    for name in ("post_id", "channel_id", "user_id"):
        if not isinstance(fields.get(name), str) or not fields[name]:
            raise ValueError(f"{name} is missing or not text")
    timestamp = fields["timestamp"]
    millis = int(timestamp) * 1000 if form else timestamp
    if isinstance(millis, bool) or not isinstance(millis, int):
        raise TypeError(f"timestamp is {type(timestamp).__name__} {timestamp!r}, expected a Unix time")
    file_ids = fields.get("file_ids") or ""
    if not isinstance(file_ids, str):
        raise TypeError("file_ids is not a comma-separated text")
    return {
        "id": fields["post_id"],
        "channel_id": fields["channel_id"],
        "user_id": fields["user_id"],
        "create_at": millis,
        "message": fields.get("text") or "",
        "file_ids": [file_id for file_id in file_ids.split(",") if file_id],
        "type": "",
    }


class MattermostWebhookReceiver:
    """One outgoing webhook of one Mattermost team, at `/hooks/mattermost/<name>`."""

    blocking = False  # verifies and maps from the request alone

    def __init__(
        self,
        name: str,
        server: str,
        team_id: str,
        token: bytes,
        scope: MattermostScope,
        max_body_bytes: int = 262_144,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = name
        self.path = f"/hooks/mattermost/{name}"
        self.server = server
        self.team_id = team_id
        self.token = token
        self.scope = scope
        self.max_body_bytes = max_body_bytes
        self.now = now

    def check(self) -> CheckReport:
        """The token is set; where Mattermost must post."""
        return CheckReport(
            [
                f"token set; Mattermost ({self.server}, team {self.team_id}) posts to {self.path}",
                "outgoing webhooks carry new posts of public channels only: no edits, reactions or threads",
            ]
        )

    def receive(self, request: ReceivedRequest) -> Receipt:
        """Check the token, then map the post; a post of another team or one that cannot be mapped is set aside."""
        fields = webhook_fields(request)
        token = fields.get("token")
        if not isinstance(token, str) or not token:
            raise RequestRejected(401, "the body carries no token")
        if not hmac.compare_digest(token.encode("utf-8"), self.token):
            raise RequestRejected(401, "the token does not match (check the webhook's token variable)")
        if fields.get("team_id") != self.team_id:
            return self.set_aside(fields, f"post of team {fields.get('team_id')!r}; {self.name} reads {self.team_id}")
        form = request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json"
        try:
            post = post_from_webhook(fields, form)
            channel = MattermostChannel(str(post["channel_id"]), fields.get("channel_name") or None, PUBLIC_CHANNEL)
            activities = list(post_activities(post, channel, self.scope))
        except MAPPING_ERRORS as exc:
            return self.set_aside(
                fields, f"post {fields.get('post_id')!r} cannot be mapped: {type(exc).__name__}: {exc}"
            )
        records = [OutgoingRecord(a.conversation_key.encode("utf-8"), a.to_bytes()) for a in activities]
        return Receipt(200, EMPTY_ANSWER, "application/json", records=records)

    def set_aside(self, fields: Mapping[str, Any], detail: str) -> Receipt:
        """Acknowledge a request with the right token that holds nothing usable, keeping its fields (as JSON, the
        token left out: a dead letter must not hold the secret) as a dead letter with the reason."""
        logger.warning("%s: %s (set aside in the dead-letter topic)", self.name, detail)
        kept = {name: value for name, value in fields.items() if name != "token"}
        original = json.dumps(kept, ensure_ascii=False).encode("utf-8")
        letter = source_dead_letter(SourceSystem.MATTERMOST, self.server, detail, original, self.now())
        return Receipt(200, EMPTY_ANSWER, "application/json", dead_letters=[letter])
