"""A local Microsoft Graph and identity platform for the Teams connectors' tests and simulations.

It answers, on 127.0.0.1:
- `POST /{tenant}/oauth2/v2.0/token`: the client-credentials grant (`grant_type=client_credentials`, `client_id`,
  `client_secret`, `scope=https://graph.microsoft.com/.default`), 401 `invalid_client` for a wrong secret, 400 for
  another grant or scope; the token lasts `token_lifetime_s`, and `revoke_tokens()` makes Graph refuse the issued
  ones with 401 `InvalidAuthenticationToken`;
- below `/v1.0/`, with a Bearer token: `POST /subscriptions` (the documented checks: change types, resource,
  an `expirationDateTime` in the future and within 4,320 minutes, a `lifecycleNotificationUrl` beyond one hour,
  `clientState` of at most 128 characters; then a validation request with a `validationToken` to each URL, whose
  echo must come back as 200 text/plain within 10 s, as Graph does), `GET/PATCH/DELETE /subscriptions/{id}`,
  `POST /subscriptions/{id}/reauthorize` (204), `GET /subscriptions`;
- messages as notifications name them (`teams('t')/channels('c')/messages('m')`, `…/replies('r')`) or as paths
  (`teams/t/channels/c/messages/m`), `GET /users/{id}` (honouring `$select`), `GET /teams/{t}/channels/{c}` and
  its `/members`, paged as Graph pages collections: `$top` (else `page_size`) members a page, and while more
  remain an `@odata.nextLink` holding the whole URL of the next page with an opaque `$skiptoken`.

`notify` and `lifecycle` post change and lifecycle notifications as Graph does, `fail_next` makes the next Graph
requests fail (429/503 with Retry-After), `latency_s` makes each message and user GET take that long (as a
loaded Graph does, for measuring the receiver), and `requests` records what arrived.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx

from simulator.local_server import JsonHandler, LocalServer

GRAPH_PREFIX = "/v1.0/"
MAX_EXPIRY = timedelta(minutes=4320)
LIFECYCLE_REQUIRED_AFTER = timedelta(hours=1)
VALIDATION_TIMEOUT_S = 10.0
CHANGE_TYPES = frozenset({"created", "updated", "deleted"})
#: Items of a paged collection per page when the request names no `$top`.
PAGE_SIZE = 100
_ODATA_KEY = re.compile(r"(\w+)\('([^']*)'\)")


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received: method, path with query, Authorization header, body."""

    method: str
    target: str
    authorization: str
    body: bytes

    @property
    def path(self) -> str:
        """The path without the query."""
        return urlsplit(self.target).path


class GraphError(Exception):
    """An answer other than success, with Graph's error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def iso(moment: datetime) -> str:
    """A time as Graph writes it (seven fractional digits, `Z`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


class GraphServer(LocalServer):
    """A local Graph on 127.0.0.1 for one tenant and one app registration; `start()` returns the Graph root."""

    def __init__(
        self, tenant_id: str, client_id: str, client_secret: str, token_lifetime_s: int = 3599, port: int = 0
    ) -> None:
        super().__init__(port)
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime_s = token_lifetime_s
        self.tokens: set[str] = set()
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.messages: dict[tuple[str, str, str], dict[str, Any]] = {}  # (team, channel, message id)
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[tuple[str, str], dict[str, Any]] = {}
        self.members: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.requests: list[RecordedRequest] = []
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        #: items of a paged collection per page when the request names no `$top`
        self.page_size = PAGE_SIZE
        #: seconds each message and user GET waits before it answers
        self.latency_s = 0.0
        #: message and user GETs answering now, and the most at once so far, by kind (`messages`, `users`)
        self.in_flight: dict[str, int] = {}
        self.most_in_flight: dict[str, int] = {}
        self._lock = threading.Lock()

    # -- control ---------------------------------------------------------------------------------------------

    label = "Graph simulator"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return handler_for(self)

    @property
    def root(self) -> str:
        """`http://127.0.0.1:<port>`."""
        return self.base_url

    @property
    def graph_url(self) -> str:
        """The Graph root, ending in `/`."""
        return f"{self.root}{GRAPH_PREFIX}"

    @property
    def token_endpoint(self) -> str:
        """The tenant's v2.0 token endpoint."""
        return f"{self.root}/{self.tenant_id}/oauth2/v2.0/token"

    def revoke_tokens(self) -> None:
        """Refuse every token issued so far (as when one expires early): Graph answers 401."""
        with self._lock:
            self.tokens.clear()

    def graph_requests(self, method: str, path_part: str) -> list[RecordedRequest]:
        """The requests with this method whose path contains `path_part`."""
        return [r for r in self.requests if r.method == method and path_part in r.path]

    # -- content ---------------------------------------------------------------------------------------------

    def add_user(self, user_id: str, display_name: str, mail: str | None = None) -> None:
        """A user of the tenant."""
        self.users[user_id] = {"id": user_id, "displayName": display_name, "mail": mail, "userPrincipalName": mail}

    def add_channel(self, team_id: str, channel_id: str, name: str, members: tuple[str, ...] = ()) -> None:
        """A standard channel of a team and its members (users added before)."""
        self.channels[(team_id, channel_id)] = {"id": channel_id, "displayName": name, "membershipType": "standard"}
        self.members[(team_id, channel_id)] = [
            {
                "@odata.type": "#microsoft.graph.aadUserConversationMember",
                "id": f"member-{user}",
                "roles": [],
                "displayName": self.users[user]["displayName"],
                "userId": user,
                "email": self.users[user]["mail"],
                "tenantId": self.tenant_id,
            }
            for user in members
        ]

    def post(
        self, team_id: str, channel_id: str, message_id: str, user_id: str, at: datetime, html: str, **fields: Any
    ) -> dict[str, Any]:
        """A chatMessage as Graph v1.0 shows it (a reply with `replyToId`); `fields` override any property."""
        message = {
            "id": message_id,
            "replyToId": None,
            "etag": message_id,
            "messageType": "message",
            "createdDateTime": iso(at),
            "lastModifiedDateTime": iso(at),
            "lastEditedDateTime": None,
            "deletedDateTime": None,
            "subject": None,
            "summary": None,
            "chatId": None,
            "importance": "normal",
            "locale": "en-us",
            "webUrl": f"https://teams.microsoft.com/l/message/{channel_id}/{message_id}",
            "policyViolation": None,
            "eventDetail": None,
            "from": {
                "application": None,
                "device": None,
                "user": {
                    "@odata.type": "#microsoft.graph.teamworkUserIdentity",
                    "id": user_id,
                    "displayName": self.users.get(user_id, {}).get("displayName"),
                    "userIdentityType": "aadUser",
                    "tenantId": self.tenant_id,
                },
            },
            "body": {"contentType": "html", "content": html},
            "channelIdentity": {"teamId": team_id, "channelId": channel_id},
            "attachments": [],
            "mentions": [],
            "reactions": [],
            "messageHistory": [],
            **fields,
        }
        self.messages[(team_id, channel_id, message_id)] = message
        return message

    def edit(self, team_id: str, channel_id: str, message_id: str, at: datetime, html: str) -> None:
        """Edit a message's text: `lastEditedDateTime` and `lastModifiedDateTime` move."""
        message = self.messages[(team_id, channel_id, message_id)]
        message["body"]["content"] = html
        message.update(lastEditedDateTime=iso(at), lastModifiedDateTime=iso(at))

    def delete(self, team_id: str, channel_id: str, message_id: str, at: datetime) -> None:
        """Soft-delete a message as Teams does: Graph keeps it with `deletedDateTime` and an empty body."""
        message = self.messages[(team_id, channel_id, message_id)]
        message.update(
            deletedDateTime=iso(at), lastModifiedDateTime=iso(at), body={"contentType": "text", "content": ""}
        )

    def react(self, team_id: str, channel_id: str, message_id: str, user_id: str, kind: str, at: datetime) -> None:
        """A reaction: only `lastModifiedDateTime` moves, not `lastEditedDateTime`."""
        message = self.messages[(team_id, channel_id, message_id)]
        identity = {
            "id": user_id,
            "displayName": self.users.get(user_id, {}).get("displayName"),
            "userIdentityType": "aadUser",
        }
        message["reactions"].append(
            {"reactionType": kind, "displayName": kind, "reactionContentUrl": None, "createdDateTime": iso(at),
             "user": {"application": None, "device": None, "user": identity}}
        )  # fmt: skip
        message["lastModifiedDateTime"] = iso(at)

    @staticmethod
    def resource_of(team_id: str, channel_id: str, message_id: str, reply_to: str | None = None) -> str:
        """A message's `resource` as a change notification names it."""
        base = f"teams('{team_id}')/channels('{channel_id}')/messages('{reply_to or message_id}')"
        return f"{base}/replies('{message_id}')" if reply_to else base

    # -- notifications, posted as Graph posts them -----------------------------------------------------------

    def notification(self, subscription_id: str, change_type: str, resource: str, **override: Any) -> dict[str, Any]:
        """One change notification without resource data, as Graph sends it for a subscription."""
        subscription = self.subscriptions[subscription_id]
        message_id = _ODATA_KEY.findall(resource)[-1][1]
        return {
            "subscriptionId": subscription_id,
            "subscriptionExpirationDateTime": subscription["expirationDateTime"],
            "changeType": change_type,
            "resource": resource,
            "resourceData": {"id": message_id, "@odata.type": "#Microsoft.Graph.chatMessage", "@odata.id": resource},
            "clientState": subscription.get("clientState"),
            "tenantId": self.tenant_id,
            **override,
        }

    def notify(self, notifications: list[dict[str, Any]], url: str | None = None) -> httpx.Response:
        """Post a notification collection to `url` (default: the first notification's subscription's URL)."""
        target = url or self.subscriptions[notifications[0]["subscriptionId"]]["notificationUrl"]
        return httpx.post(target, json={"value": notifications}, timeout=VALIDATION_TIMEOUT_S)

    def lifecycle(self, subscription_id: str, event: str, **override: Any) -> httpx.Response:
        """Post one lifecycle notification (`reauthorizationRequired`, `subscriptionRemoved`, `missed`)."""
        subscription = self.subscriptions[subscription_id]
        body = {
            "subscriptionId": subscription_id,
            "subscriptionExpirationDateTime": subscription["expirationDateTime"],
            "tenantId": self.tenant_id,
            "clientState": subscription.get("clientState"),
            "lifecycleEvent": event,
            **override,
        }
        if event == "subscriptionRemoved":
            with self._lock:
                self.subscriptions.pop(subscription_id)
        return httpx.post(
            subscription["lifecycleNotificationUrl"], json={"value": [body]}, timeout=VALIDATION_TIMEOUT_S
        )

    # -- answers ---------------------------------------------------------------------------------------------

    def record(self, method: str, target: str, authorization: str, body: bytes) -> None:
        """Record a request."""
        with self._lock:
            self.requests.append(RecordedRequest(method, target, authorization, body))

    def issue_token(self, form: Mapping[str, str]) -> dict[str, Any]:
        """The client-credentials grant, checked as the identity platform checks it."""
        if form.get("grant_type") != "client_credentials":
            raise GraphError(400, "unsupported_grant_type", "AADSTS70003: the grant type is not supported")
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            raise GraphError(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        if form.get("scope") != "https://graph.microsoft.com/.default":
            raise GraphError(400, "invalid_scope", "AADSTS1002012: the scope must be a resource's /.default")
        token = secrets.token_urlsafe(24)
        with self._lock:
            self.tokens.add(token)
        return {"token_type": "Bearer", "expires_in": self.token_lifetime_s, "ext_expires_in": self.token_lifetime_s,
                "access_token": token}  # fmt: skip

    def graph(self, method: str, path: str, params: Mapping[str, str], body: Any) -> tuple[int, Any]:
        """(status, JSON) of a Graph request below /v1.0/ (raises GraphError)."""
        parts = path.strip("/").split("/")
        if parts[0] == "subscriptions":
            return self.subscription_request(method, parts[1:], body)
        if method != "GET":
            raise GraphError(405, "Request_BadRequest", "method not allowed")
        if parts[0] == "users" and len(parts) == 2:
            self.wait("users")
            user = self.found(self.users, parts[1], "user")
            selected = params.get("$select")
            return 200, {k: v for k, v in user.items() if not selected or k in selected.split(",")}
        if parts[0] == "teams" and len(parts) == 4 and parts[2] == "channels":
            return 200, self.found(self.channels, (parts[1], parts[3]), "channel")
        if parts[0] == "teams" and len(parts) == 5 and parts[4] == "members":
            self.found(self.channels, (parts[1], parts[3]), "channel")
            return 200, self.page(path, self.members[(parts[1], parts[3])], params)
        keys = dict(_ODATA_KEY.findall(path)) if "(" in path else dict(zip(parts[::2], parts[1::2], strict=False))
        if {"teams", "channels", "messages"} <= set(keys):
            self.wait("messages")
            message_id = keys.get("replies") or keys["messages"]
            return 200, self.found(self.messages, (keys["teams"], keys["channels"], message_id), "message")
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{parts[0]}'.")

    def wait(self, kind: str) -> None:
        """The simulated time Graph takes to answer a content request (`latency_s`), counting how many requests of
        the kind were in flight at once (`most_in_flight`: whether a client asks side by side)."""
        with self._lock:
            self.in_flight[kind] = self.in_flight.get(kind, 0) + 1
            self.most_in_flight[kind] = max(self.most_in_flight.get(kind, 0), self.in_flight[kind])
        try:
            if self.latency_s > 0:
                time.sleep(self.latency_s)
        finally:
            with self._lock:
                self.in_flight[kind] -= 1

    def page(self, path: str, items: list[dict[str, Any]], params: Mapping[str, str]) -> dict[str, Any]:
        """One page of a collection: `$top` (else `page_size`) items from the `$skiptoken`'s offset, and the next
        page's whole URL in `@odata.nextLink` while more remain."""
        try:
            size = int(params.get("$top") or self.page_size)
            token = params.get("$skiptoken")
            start = int(base64.urlsafe_b64decode(token).decode().removeprefix("offset=")) if token else 0
        except ValueError:
            raise GraphError(400, "BadRequest", "Invalid $top or $skiptoken.") from None
        if size < 1 or start < 0:
            raise GraphError(400, "BadRequest", "Invalid $top or $skiptoken.")
        answer: dict[str, Any] = {"value": items[start : start + size]}
        if start + size < len(items):
            following = {**params, "$skiptoken": base64.urlsafe_b64encode(f"offset={start + size}".encode()).decode()}
            answer["@odata.nextLink"] = f"{self.graph_url}{path.lstrip('/')}?{urlencode(following, safe='$')}"
        return answer

    def found(self, table: Mapping[Any, Any], key: Any, what: str) -> Any:
        """An entry, or a 404 naming it."""
        if key not in table:
            raise GraphError(404, "NotFound", f"The requested {what} was not found.")
        return table[key]

    def subscription_request(self, method: str, parts: list[str], body: Any) -> tuple[int, Any]:
        """The subscription endpoints, checked as documented."""
        if not parts:
            if method == "GET":
                return 200, {"value": list(self.subscriptions.values())}
            if method == "POST":
                return 201, self.create(body)
        subscription = self.found(self.subscriptions, parts[0], "subscription") if parts else None
        if subscription is None:
            raise GraphError(405, "BadRequest", "method not allowed")
        if len(parts) == 2 and parts[1] == "reauthorize" and method == "POST":
            return 204, None
        if method == "GET":
            return 200, subscription
        if method == "DELETE":
            with self._lock:
                self.subscriptions.pop(parts[0])
            return 204, None
        if method == "PATCH":
            expires = self.checked_expiry(body, subscription.get("lifecycleNotificationUrl"))
            subscription["expirationDateTime"] = iso(expires)
            return 200, subscription
        raise GraphError(405, "BadRequest", "method not allowed")

    def checked_expiry(self, body: Any, lifecycle_url: str | None) -> datetime:
        """The asked `expirationDateTime`, if Graph would accept it for a chatMessage subscription."""
        try:
            expires = datetime.fromisoformat(str(body["expirationDateTime"]))
        except (KeyError, TypeError, ValueError):
            raise GraphError(400, "InvalidRequest", "expirationDateTime is missing or not a time") from None
        now = self.now()
        if expires <= now or expires > now + MAX_EXPIRY:
            raise GraphError(400, "InvalidRequest", "Subscription expiration can only be 4320 minutes in the future.")
        if expires > now + LIFECYCLE_REQUIRED_AFTER and not lifecycle_url:
            raise GraphError(
                400,
                "InvalidRequest",
                "lifecycleNotificationUrl is a required property for subscription creation on this resource when "
                "the expirationDateTime value is set to greater than 1 hour",
            )
        return expires

    def create(self, body: Any) -> dict[str, Any]:
        """A new subscription, after validating both URLs with a validation token."""
        if not isinstance(body, dict):
            raise GraphError(400, "InvalidRequest", "the body is not a subscription")
        changes = str(body.get("changeType", "")).split(",")
        if not changes or not set(changes) <= CHANGE_TYPES:
            raise GraphError(400, "InvalidRequest", f"changeType {body.get('changeType')!r} is not supported")
        resource = str(body.get("resource", ""))
        if "/messages" not in resource and "getAllMessages" not in resource:
            raise GraphError(400, "InvalidRequest", f"resource {resource!r} is not a chatMessage resource")
        if len(str(body.get("clientState") or "")) > 128:
            raise GraphError(400, "InvalidRequest", "clientState is longer than 128 characters")
        lifecycle_url = body.get("lifecycleNotificationUrl")
        expires = self.checked_expiry(body, lifecycle_url)
        for url in (body.get("notificationUrl"), lifecycle_url):
            if url:
                validate_endpoint(str(url))
        subscription = {
            "id": secrets.token_hex(16),
            "resource": resource,
            "applicationId": self.client_id,
            "changeType": body["changeType"],
            "clientState": body.get("clientState"),
            "notificationUrl": body.get("notificationUrl"),
            "lifecycleNotificationUrl": lifecycle_url,
            "expirationDateTime": iso(expires),
            "creatorId": self.client_id,
            "includeResourceData": False,
            "latestSupportedTlsVersion": "v1_2",
        }
        with self._lock:
            self.subscriptions[subscription["id"]] = subscription
        return subscription


def validate_endpoint(url: str) -> None:
    """Graph's endpoint validation: POST `?validationToken=…` (text/plain); the token must come back within 10 s."""
    token = f"Validation: Testing client application reachability for subscription Request-Id: {secrets.token_hex(8)}"
    if urlsplit(url).scheme != "https" and urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
        raise GraphError(400, "InvalidRequest", "notificationUrl must use HTTPS")
    try:
        answer = httpx.post(
            f"{url}?validationToken={quote(token)}",
            content=b"",
            headers={"Content-Type": "text/plain; charset=utf-8"},
            timeout=VALIDATION_TIMEOUT_S,
        )
    except httpx.HTTPError:
        answer = None
    if answer is None or answer.status_code != 200 or answer.text != token:
        raise GraphError(
            400,
            "ValidationError",
            "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation "
            "request.",
        )


def handler_for(server: GraphServer) -> type[BaseHTTPRequestHandler]:
    """The request handler class serving `server`."""

    class Handler(JsonHandler):
        # connections are kept alive, as Graph keeps them: a client's pool reuses them instead of connecting anew;
        # without Nagle's algorithm, since headers and body are written apart and would wait for a delayed ACK
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # noqa: N802 (http.server's names)
            self.serve("GET")

        def do_POST(self) -> None:  # noqa: N802 (http.server's names)
            self.serve("POST")

        def do_PATCH(self) -> None:  # noqa: N802 (http.server's names)
            self.serve("PATCH")

        def do_DELETE(self) -> None:  # noqa: N802 (http.server's names)
            self.serve("DELETE")

        def serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length) if length else b""
            authorization = self.headers.get("Authorization", "")
            server.record(method, self.path, authorization, raw)
            target = urlsplit(self.path)
            try:
                if target.path.endswith("/oauth2/v2.0/token") and method == "POST":
                    form = {name: values[-1] for name, values in parse_qs(raw.decode("utf-8")).items()}
                    self.send_json(200, server.issue_token(form))
                    return
                failure = server.next_failure()
                if failure is not None:
                    error = {"error": {"code": "TooManyRequests", "message": "simulated"}}
                    self.send_json(failure.status, error, failure.headers)
                    return
                if authorization.removeprefix("Bearer ") not in server.tokens:
                    raise GraphError(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
                params = {name: values[-1] for name, values in parse_qs(target.query).items()}
                body = json.loads(raw) if raw else None
                status, answer = server.graph(method, target.path.removeprefix(GRAPH_PREFIX), params, body)
            except GraphError as exc:
                if target.path.endswith("/token"):
                    self.send_json(exc.status, {"error": exc.code, "error_description": str(exc)})
                else:
                    self.send_json(exc.status, {"error": {"code": exc.code, "message": str(exc)}})
                return
            self.send_json(status, answer)

    return Handler
