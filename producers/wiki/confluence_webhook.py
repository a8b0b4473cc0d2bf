"""The Confluence Data Center webhook receiver: verify `X-Hub-Signature`, map page and comment events.

Confluence (7.7 and later) signs a webhook with a secret: `X-Hub-Signature` is `sha256=` and the hex
HMAC-SHA256 of the raw body under the secret. A request without it, or with one that does not match, is
refused with 401 and produces nothing.

Mapped (with the functions of `producers.wiki.confluence`, so a page version has the id the Cloud poller
gives it): `page_created`, `page_updated` (a version), `page_trashed`, `page_removed`, `comment_removed`
(removals) and `comment_created`. `comment_updated` is an edit of a comment, not activity; blog posts,
attachments, labels, spaces and users are acknowledged and left. A delivery sent again maps to the same
activity ids.

Since Confluence 8.x (a security fix) the payloads carry ids only, unless the instance runs with the system
property `confluence.webhooks.id.only.disabled=true`; an id-only event cannot be mapped without calling back
into Confluence, so it is set aside as a dead letter saying so. A comment's page is its `parent` field, which
older payloads and Connect give; an event without it is set aside too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from learnstream.errors import RequestRejected
from producers.contracts import CheckReport, OutgoingRecord, Receipt, ReceivedRequest
from producers.dead_letters import source_dead_letter
from producers.pseudonymise import Pseudonymiser
from producers.wiki.confluence import (
    UnusableContent,
    comment_activity,
    mapping_field,
    page_version_activity,
    removal_activity,
    webhook_comment,
    webhook_page_version,
    webhook_removal,
)
from schemas.activity import Activity, SourceSystem

logger = logging.getLogger(__name__)

SIGNATURE_PREFIX = "sha256="
PAGE_VERSION_EVENTS = frozenset({"page_created", "page_updated"})
PAGE_REMOVAL_EVENTS = frozenset({"page_trashed", "page_removed"})
#: Events that are not activity (a comment's edit) or not of pages and comments: acknowledged, nothing made.
IGNORED_EVENTS = frozenset({"comment_updated"})
ID_ONLY_HINT = (
    "the payload names ids only (Confluence 8+ default); start Confluence with "
    "-Dconfluence.webhooks.id.only.disabled=true so webhooks carry the content's fields"
)


def hub_signature(secret: bytes, body: bytes) -> str:
    """The `X-Hub-Signature` value Confluence sends for a body."""
    return SIGNATURE_PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_hub_signature(secret: bytes, headers: Mapping[str, str], body: bytes) -> None:
    """Refuse (401) a request without a matching `X-Hub-Signature`. `headers` has lower-case names."""
    signature = headers.get("x-hub-signature")
    if not signature:
        raise RequestRejected(401, "missing X-Hub-Signature (set a secret on the Confluence webhook)")
    if not hmac.compare_digest(hub_signature(secret, body), signature.strip().lower()):
        raise RequestRejected(401, "the X-Hub-Signature does not match the body (check the webhook secret)")


def activities_from_event(
    event: Mapping[str, Any], site: str, pseudonymise: Pseudonymiser, spaces: Collection[str]
) -> list[Activity]:
    """The activities of one webhook event; [] for events that are not activity or are outside `spaces` (all if
    empty). Raises UnusableContent (or a pydantic ValidationError) for an event it cannot map."""
    name = event.get("event")
    if not isinstance(name, str):
        raise UnusableContent("event is missing: not a Confluence webhook payload")
    user_key = event.get("userKey")
    if name in PAGE_VERSION_EVENTS or name in PAGE_REMOVAL_EVENTS:
        page = mapping_field(event, "page")
        require_fields(page)
        if not wanted(page, spaces):
            return []
        if name in PAGE_REMOVAL_EVENTS:
            removal = webhook_removal("page", page, user_key, event.get("timestamp"))
            return [removal_activity(removal, site, pseudonymise)]
        return [page_version_activity(webhook_page_version(page, user_key), site, pseudonymise)]
    if name in ("comment_created", "comment_removed"):
        comment = mapping_field(event, "comment")
        require_fields(comment)
        if not wanted(comment, spaces):
            return []
        if name == "comment_removed":
            removal = webhook_removal("comment", comment, user_key, event.get("timestamp"))
            return [removal_activity(removal, site, pseudonymise)]
        return [comment_activity(webhook_comment(comment, user_key), site, pseudonymise)]
    return []


def require_fields(content: Mapping[str, Any]) -> None:
    """Refuse an id-only payload with the reason and the fix."""
    if set(content) <= {"id"}:
        raise UnusableContent(ID_ONLY_HINT)


def wanted(content: Mapping[str, Any], spaces: Collection[str]) -> bool:
    """Whether the content is in the instance's spaces."""
    return not spaces or content.get("spaceKey") in spaces


class ConfluenceWebhookReceiver:
    """One Confluence Data Center webhook, at `/hooks/confluence/<name>`."""

    blocking = False  # verifies and maps from the request alone

    def __init__(
        self,
        name: str,
        site: str,
        secret: bytes,
        pseudonymise: Pseudonymiser,
        spaces: Collection[str] = (),
        max_body_bytes: int = 1_048_576,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = name
        self.path = f"/hooks/confluence/{name}"
        self.site = site
        self.secret = secret
        self.pseudonymise = pseudonymise
        self.spaces = frozenset(spaces)
        self.max_body_bytes = max_body_bytes
        self.now = now

    def check(self) -> CheckReport:
        """The secret is set; where Confluence must post."""
        spaces = ", ".join(sorted(self.spaces)) or "every space"
        return CheckReport(
            [
                f"webhook secret set; Confluence ({self.site}) posts to {self.path}",
                f"keeps {spaces}; user keys are resolved by the accounts HR listed only",
            ]
        )

    def receive(self, request: ReceivedRequest) -> Receipt:
        """Verify, then map the event; an event that cannot be mapped becomes a dead letter."""
        verify_hub_signature(self.secret, request.headers, request.body)
        try:
            event = json.loads(request.body)
        except ValueError:
            raise RequestRejected(400, "the body is not JSON (Confluence webhooks post application/json)") from None
        if not isinstance(event, dict):
            raise RequestRejected(400, "the body is not a JSON object")
        if event.get("event") in IGNORED_EVENTS:
            return Receipt(200)
        try:
            activities = activities_from_event(event, self.site, self.pseudonymise, self.spaces)
        except UnusableContent as exc:
            return self.set_aside(request, f"{event.get('event')} event cannot be mapped: {exc}")
        except ValidationError as exc:
            return self.set_aside(
                request, f"{event.get('event')} event is not a valid activity: {exc.errors()[0]['msg']}"
            )
        records = [OutgoingRecord(a.conversation_key.encode("utf-8"), a.to_bytes()) for a in activities]
        return Receipt(200, records=records)

    def set_aside(self, request: ReceivedRequest, detail: str) -> Receipt:
        """Acknowledge a signed request that holds nothing usable, keeping it as a dead letter with the reason."""
        logger.warning("%s: %s (set aside in the dead-letter topic)", self.name, detail)
        letter = source_dead_letter(SourceSystem.CONFLUENCE, self.site, detail, request.body, self.now())
        return Receipt(200, dead_letters=[letter])
