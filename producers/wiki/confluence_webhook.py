"""The Confluence Data Center webhook receiver: verify `X-Hub-Signature`, map page and comment events.

Confluence (7.7 and later) signs a webhook with a secret: `X-Hub-Signature` is `sha256=` and the hex
HMAC-SHA256 of the raw body under the secret. A request without it, or with one that does not match, is
refused with 401 and produces nothing.

Mapped (with the functions of `producers.wiki.confluence`, so a page version has the id the Cloud poller
gives it): `page_created`, `page_updated` (a version), `page_trashed`, `page_removed`, `comment_removed`
(removals) and `comment_created`. `comment_updated` is an edit of a comment, not activity; blog posts,
attachments, labels, spaces and users are acknowledged and left. A delivery sent again maps to the same
activity ids. A comment's page is its `parent` field, which older payloads and Connect give; a full event
without it is set aside.

Since Confluence 8.x (a security fix) the payloads carry ids only, unless the instance runs with the system
property `confluence.webhooks.id.only.disabled=true`. With `api_url` and `token_env` configured, such an event is
completed by reading its content back through the Data Center REST API (`DataCenterContent`), and mapped with
the same records, so it gets the ids a full payload gets:

- `page_created`: version 1 (the current version while it is 1, else the page's `history` creation);
- `page_updated`: the version current when read back (a page saved again meanwhile is read at its newer
  version; the version in between then has no activity);
- `comment_created`: the comment, its page the `container`, the comment it answers among its `ancestors`;
- removals: where from the content, who and when from the event, as a full payload gives them.

Content Data Center answers 404 for (purged, or hidden from the token's account) cannot be placed in a
conversation from an id-only payload, which names no space or page: the event is set aside saying so (a page
purged from the trash had its removal when it was trashed).

Data Center unreachable or failing (5xx after the HTTP client's retries), or refusing the token (401/403), is
answered 503 so the sender may deliver again; the latter names the token's variable. Without the call-back an
id-only event is set aside as a dead letter naming both fixes.
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

from learnstream.errors import ConfigError, ConnectorError, RequestRejected, ServiceUnavailable
from producers.contracts import CheckReport, OutgoingRecord, Receipt, ReceivedRequest
from producers.dead_letters import source_dead_letter
from producers.http_client import CredentialsRefused, RequestFailed, SourceHttpClient
from producers.pseudonymise import Pseudonymiser
from producers.wiki.confluence import (
    ContentType,
    PageVersion,
    UnusableContent,
    comment_activity,
    content_id,
    dc_account,
    dc_first_version,
    dc_removal,
    mapping_field,
    page_version_activity,
    removal_activity,
    rest_comment,
    rest_page_version,
    webhook_comment,
    webhook_page_version,
    webhook_removal,
)
from schemas.activity import Activity, SourceSystem

logger = logging.getLogger(__name__)

SIGNATURE_PREFIX = "sha256="
PAGE_VERSION_EVENTS = frozenset({"page_created", "page_updated"})
PAGE_REMOVAL_EVENTS = frozenset({"page_trashed", "page_removed"})
COMMENT_EVENTS = frozenset({"comment_created", "comment_removed"})
REMOVAL_EVENTS = PAGE_REMOVAL_EVENTS | {"comment_removed"}
#: Events that are not activity (a comment's edit) or not of pages and comments: acknowledged, nothing made.
IGNORED_EVENTS = frozenset({"comment_updated"})
ID_ONLY_HINT = (
    "the payload names ids only (Confluence 8+ default); set api_url and token_env on the connector so the "
    "content is read back through the Data Center REST API, or start Confluence with "
    "-Dconfluence.webhooks.id.only.disabled=true so webhooks carry the content's fields"
)
#: What a read-back expands: the fields the REST mappers read.
DC_EXPAND = "version,space,history,container,ancestors"
#: Current and trashed content (the REST API's `status` is a list, `[current]` by default): a page trashed before
#: the read-back is still read.
DC_STATUSES = ("current", "trashed")


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
    if name in COMMENT_EVENTS:
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
    if is_id_only(content):
        raise UnusableContent(ID_ONLY_HINT)


def is_id_only(content: Mapping[str, Any]) -> bool:
    """Whether a payload's page or comment names its id and nothing else."""
    return set(content) <= {"id"}


def wanted(content: Mapping[str, Any], spaces: Collection[str]) -> bool:
    """Whether the content is in the instance's spaces."""
    return not spaces or content.get("spaceKey") in spaces


def id_only_content(event: Mapping[str, Any]) -> tuple[ContentType, str] | None:
    """The type and id of an id-only page or comment event's content; None for any other event."""
    name = event.get("event")
    kind: ContentType
    if name in PAGE_VERSION_EVENTS or name in PAGE_REMOVAL_EVENTS:
        kind = "page"
    elif name in COMMENT_EVENTS:
        kind = "comment"
    else:
        return None
    content = event.get(kind)
    if not isinstance(content, Mapping) or not is_id_only(content):
        return None
    return kind, content_id(content, "id", f"{kind}.id")


def activities_from_read_back(
    event: Mapping[str, Any],
    kind: ContentType,
    content: Mapping[str, Any] | None,
    site: str,
    pseudonymise: Pseudonymiser,
    spaces: Collection[str],
) -> list[Activity]:
    """The activities of an id-only event whose `kind` of content was read back from Data Center (None: it
    answered 404); [] outside `spaces`. Raises UnusableContent for an event it cannot map, saying why."""
    name, user_key = event.get("event"), event.get("userKey")
    if content is None:
        raise UnusableContent(gone_reason(event, kind, str(mapping_field(event, kind).get("id"))))
    space = content.get("space")
    if spaces and not (isinstance(space, Mapping) and space.get("key") in spaces):
        return []
    if name in REMOVAL_EVENTS:
        removal = dc_removal(kind, content, user_key, event.get("timestamp"))
        return [removal_activity(removal, site, pseudonymise)]
    if kind == "comment":
        return [comment_activity(rest_comment(content, dc_account), site, pseudonymise)]
    version = mapping_field(content, "version")
    page_version: PageVersion
    if name == "page_created" and version.get("number") != 1:
        page_version = dc_first_version(content)  # saved again since: version 1 is the page's creation
    else:
        page_version = rest_page_version(content, version, dc_account)
    return [page_version_activity(page_version, site, pseudonymise)]


def gone_reason(event: Mapping[str, Any], kind: ContentType, identifier: str) -> str:
    """Why an id-only event whose content Data Center answered 404 for cannot be mapped: the payload names no
    space or page, which every activity's conversation needs."""
    gone = f"Data Center answered 404 for {kind} {identifier} (purged, or the token's account cannot view it)"
    if event.get("event") == "page_removed":
        return (
            f"{gone}; the id-only payload names no space to place the removal in (a page trashed before it was "
            "purged had its removal from page_trashed)"
        )
    if event.get("event") in REMOVAL_EVENTS:
        return f"{gone}; the id-only payload names no space or page to place the removal in"
    return f"{gone}; the id-only payload holds nothing else to map it from"


class DataCenterContent:
    """Content read back from Confluence Data Center's REST API (`{api_url}/rest/api`), with a personal access
    token sent as Bearer."""

    def __init__(self, http: SourceHttpClient, token_setting: str) -> None:
        self.http = http
        self.token_setting = token_setting

    def content(self, identifier: str) -> Mapping[str, Any] | None:
        """A page or comment, current or trashed, with the expansions the mappers read; None on a 404."""
        try:
            document = self.http.get_json(
                f"/rest/api/content/{identifier}", {"status": list(DC_STATUSES), "expand": DC_EXPAND}
            )
        except RequestFailed as exc:
            if exc.status == 404:
                return None
            raise
        return self.object_of(document, f"content {identifier}")

    def current_user(self) -> Mapping[str, Any]:
        """The user the token signs in as."""
        return self.object_of(self.http.get_json("/rest/api/user/current"), "user/current")

    def object_of(self, document: object, what: str) -> Mapping[str, Any]:
        """An answer that must be a JSON object."""
        if not isinstance(document, Mapping):
            raise ConnectorError(f"Confluence Data Center answered {what} with JSON that is not an object")
        return document


class ConfluenceWebhookReceiver:
    """One Confluence Data Center webhook, at `/hooks/confluence/<name>`; with `datacenter`, id-only events are
    read back through the REST API."""

    def __init__(
        self,
        name: str,
        site: str,
        secret: bytes,
        pseudonymise: Pseudonymiser,
        spaces: Collection[str] = (),
        max_body_bytes: int = 1_048_576,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        datacenter: DataCenterContent | None = None,
    ) -> None:
        self.name = name
        self.path = f"/hooks/confluence/{name}"
        self.site = site
        self.secret = secret
        self.pseudonymise = pseudonymise
        self.spaces = frozenset(spaces)
        self.max_body_bytes = max_body_bytes
        self.now = now
        self.datacenter = datacenter
        # maps from the request alone, unless it reads id-only events back from Data Center
        self.blocking = datacenter is not None

    def check(self) -> CheckReport:
        """The secret is set, and the token signs in when id-only events are read back; where Confluence must post."""
        spaces = ", ".join(sorted(self.spaces)) or "every space"
        checks = [
            f"webhook secret set; Confluence ({self.site}) posts to {self.path}",
            f"keeps {spaces}; user keys are resolved by the accounts HR listed only",
        ]
        if self.datacenter is None:
            checks.append("id-only payloads (Confluence 8+) are set aside: no api_url / token_env to read them back")
            return CheckReport(checks)
        user = self.datacenter.current_user()
        if user.get("type") != "known" or not user.get("userKey"):
            raise ConfigError(
                f"{self.name}: Confluence Data Center signs the token of {self.datacenter.token_setting} in as "
                f"{user.get('type') or 'nobody'}; set a personal access token of a user who can view the spaces"
            )
        checks.append(
            f"id-only payloads are read back: the token of {self.datacenter.token_setting} signs in as a known user"
        )
        return CheckReport(checks)

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
            target = id_only_content(event) if self.datacenter is not None else None
            if target is not None:
                activities = self.read_back(event, *target)
            else:
                activities = activities_from_event(event, self.site, self.pseudonymise, self.spaces)
        except UnusableContent as exc:
            return self.set_aside(request, f"{event.get('event')} event cannot be mapped: {exc}")
        except ValidationError as exc:
            return self.set_aside(
                request, f"{event.get('event')} event is not a valid activity: {exc.errors()[0]['msg']}"
            )
        records = [OutgoingRecord(a.conversation_key.encode("utf-8"), a.to_bytes()) for a in activities]
        return Receipt(200, records=records)

    def read_back(self, event: Mapping[str, Any], kind: ContentType, identifier: str) -> list[Activity]:
        """The activities of an id-only event, its content read from Data Center; 503 while it cannot be read."""
        assert self.datacenter is not None
        try:
            content = self.datacenter.content(identifier)
        except RequestFailed as exc:  # 400 and the like: asking again gives the same answer
            raise UnusableContent(f"the {kind} cannot be read back: {exc}") from exc
        except CredentialsRefused as exc:
            setting = self.datacenter.token_setting
            logger.error("%s: Confluence Data Center refused the token of %s (%d)", self.name, setting, exc.status)
            raise RequestRejected(
                503,
                f"Confluence Data Center refused the personal access token of {setting} ({exc.status}) when reading "
                f"{kind} {identifier} back; set a valid token of a user who can view the spaces; retry later",
            ) from exc
        except (ServiceUnavailable, ConnectorError) as exc:  # down, failing, or answering something not JSON
            logger.error("%s: cannot read %s %s back from Data Center (%s)", self.name, kind, identifier, exc)
            raise RequestRejected(503, "Confluence Data Center cannot be read now; retry later") from exc
        return activities_from_read_back(event, kind, content, self.site, self.pseudonymise, self.spaces)

    def set_aside(self, request: ReceivedRequest, detail: str) -> Receipt:
        """Acknowledge a signed request that holds nothing usable, keeping it as a dead letter with the reason."""
        logger.warning("%s: %s (set aside in the dead-letter topic)", self.name, detail)
        letter = source_dead_letter(SourceSystem.CONFLUENCE, self.site, detail, request.body, self.now())
        return Receipt(200, dead_letters=[letter])
