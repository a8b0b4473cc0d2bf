"""Microsoft Graph for the Teams connectors: an app-only token by the client-credentials flow, subscriptions, and the
messages and users that change notifications point at.

The token comes from the Microsoft identity platform's v2.0 token endpoint (`POST
https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token`, form `client_id`, `client_secret`,
`scope=https://graph.microsoft.com/.default`, `grant_type=client_credentials`; the answer's `expires_in` says how
long it lasts, and no refresh token is issued). It is kept until a minute before it expires, and fetched again
when Graph answers 401 (a token revoked or expired early). Every request goes through the shared client, so 429
and 503 with `Retry-After` are waited out as Graph asks.

Subscriptions on `chatMessage` last at most `MAX_SUBSCRIPTION` (Graph refuses a later `expirationDateTime`); one
lasting more than an hour must name a `lifecycleNotificationUrl`.

Graph pages collections on its own: a page's `@odata.nextLink` is the whole URL of the next one (its `$skiptoken`
is opaque and must not be rebuilt), absent on the last page. It is followed as given, only below the Graph root
(the token goes with it), and for at most `max_pages` pages, a guard against a link that never ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from learnstream.errors import ConfigError, ConnectorError
from producers.chat.teams import graph_time
from producers.http_client import CredentialsRefused, RequestFailed, SourceHttpClient

logger = logging.getLogger(__name__)

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
GRAPH_URL = "https://graph.microsoft.com/v1.0/"
#: The longest a chatMessage subscription may last (Graph's documented maximum: 4,320 minutes, under 3 days).
MAX_SUBSCRIPTION = timedelta(minutes=4320)
#: Asked a little short of the maximum: Graph compares with its own clock, which may be ahead of ours.
SUBSCRIPTION_SLACK = timedelta(minutes=5)
#: A token is fetched again this long before it expires.
TOKEN_MARGIN_S = 60.0
CHANGE_TYPES = "created,updated,deleted"
#: Pages of one collection read at most: far more than a team's 25,000 members take, few enough to end a loop.
MAX_PAGES = 500
NEXT_LINK = "@odata.nextLink"


def token_endpoint_of(tenant_id: str) -> str:
    """The v2.0 token endpoint of a tenant."""
    return f"https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token"


@dataclass(frozen=True)
class GraphCredentials:
    """An app registration's client credentials in one tenant, and where its tokens come from."""

    tenant_id: str
    client_id: str
    client_secret: str
    token_endpoint: str
    secret_setting: str = "the client secret"  # the variable holding it, named in errors


@dataclass(frozen=True)
class GraphSubscription:
    """A subscription as Graph describes it."""

    id: str
    resource: str
    expires: datetime
    notification_url: str
    lifecycle_url: str | None

    @classmethod
    def from_graph(cls, document: Any) -> GraphSubscription:
        """A subscription from Graph's JSON; a ConnectorError for one without id, resource or expiry."""
        if not isinstance(document, Mapping):
            raise ConnectorError("Graph answered with something other than a subscription")
        try:
            return cls(
                id=str(document["id"]),
                resource=str(document["resource"]),
                expires=graph_time(document["expirationDateTime"], "expirationDateTime"),
                notification_url=str(document.get("notificationUrl") or ""),
                lifecycle_url=document.get("lifecycleNotificationUrl") or None,
            )
        except (KeyError, ValueError) as exc:
            raise ConnectorError(f"Graph answered with a subscription lacking {exc}") from exc


@dataclass(frozen=True)
class GraphCollection:
    """The items of a paged Graph collection as read, and whether its last page was reached."""

    items: list[Any]
    pages: int
    complete: bool


def graph_timestamp(moment: datetime) -> str:
    """An aware datetime as Graph writes `expirationDateTime`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


class GraphClient:
    """Microsoft Graph as one app registration: token handling, subscriptions, messages and users."""

    def __init__(
        self,
        http: SourceHttpClient,
        credentials: GraphCredentials,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        clock: Callable[[], float] = time.monotonic,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self.http = http
        self.credentials = credentials
        self.now = now
        self.clock = clock
        self.max_pages = max_pages
        self._token: str | None = None
        self._token_until = 0.0
        self._token_lock = threading.Lock()  # messages are fetched in parallel: one of them fetches a new token

    # -- the token -------------------------------------------------------------------------------------------

    def token(self) -> str:
        """A valid app-only access token: the cached one, or a new one when it is about to expire."""
        with self._token_lock:
            if self._token is None or self.clock() >= self._token_until:
                self._token, self._token_until = self.new_token()
            return self._token

    def forget(self, token: str) -> None:
        """Stop using a token Graph refused (unless another request has replaced it already)."""
        with self._token_lock:
            if self._token == token:
                self._token = None

    def new_token(self) -> tuple[str, float]:
        """A token from the token endpoint and the clock reading until which it is used."""
        form = {
            "client_id": self.credentials.client_id,
            "client_secret": self.credentials.client_secret,
            "scope": GRAPH_SCOPE,
            "grant_type": "client_credentials",
        }
        try:
            answer = self.http.request_json("POST", self.credentials.token_endpoint, data=form)
        except (CredentialsRefused, RequestFailed) as exc:  # invalid_client (401), unauthorized_client (400), ...
            raise ConfigError(
                f"the token endpoint {self.credentials.token_endpoint} refused client {self.credentials.client_id} "
                f"(status {exc.status}): check the tenant, the client id and {self.credentials.secret_setting}"
            ) from exc
        if not isinstance(answer, Mapping) or not isinstance(answer.get("access_token"), str):
            raise ConnectorError(f"the token endpoint {self.credentials.token_endpoint} answered without a token")
        lifetime = answer.get("expires_in")
        seconds = float(lifetime) if isinstance(lifetime, int | float | str) and str(lifetime).isdigit() else 0.0
        return str(answer["access_token"]), self.clock() + max(seconds - TOKEN_MARGIN_S, 0.0)

    def call(self, method: str, path: str, params: Mapping[str, str] | None = None, json: Any = None) -> Any:
        """One Graph request with the token; a 401 fetches a new token and tries once more."""
        for fresh in (False, True):
            token = self.token()
            try:
                return self.http.request_json(
                    method, path, params=params, json=json, headers={"Authorization": f"Bearer {token}"}
                )
            except CredentialsRefused as exc:
                if exc.status != 401 or fresh:
                    raise
                logger.info("Graph refused the cached token for %s %s; fetching a new one", method, path)
                self.forget(token)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def collection(self, path: str) -> GraphCollection:
        """The items of a collection over all its pages, following `@odata.nextLink` for at most `max_pages`."""
        items: list[Any] = []
        following: str | None = path
        pages = 0
        while following is not None and pages < self.max_pages:
            answer = self.call("GET", following)
            pages += 1
            value = answer.get("value") if isinstance(answer, Mapping) else None
            items += value if isinstance(value, list) else []
            following = self.next_link(answer, path)
        if following is not None:
            logger.warning("Graph pages %s beyond %d pages; stopped with %d items read", path, pages, len(items))
        return GraphCollection(items, pages, complete=following is None)

    def next_link(self, page: Any, path: str) -> str | None:
        """A page's `@odata.nextLink`, None on the last page; a ConnectorError for one leading off the Graph root."""
        link = page.get(NEXT_LINK) if isinstance(page, Mapping) else None
        if link is None or link == "":
            return None
        root = str(self.http.client.base_url)
        if not isinstance(link, str) or not link.startswith(root):
            raise ConnectorError(
                f"Graph answered {path} with an {NEXT_LINK} outside {root} ({link!r}); it is not followed, since the "
                "token would go with it: check graph_url in the connector file"
            )
        return link

    # -- subscriptions ---------------------------------------------------------------------------------------

    def longest_expiry(self) -> datetime:
        """The latest expiry Graph accepts for a chatMessage subscription made now (less a little slack)."""
        return self.now() + MAX_SUBSCRIPTION - SUBSCRIPTION_SLACK

    def create_subscription(
        self, resource: str, notification_url: str, lifecycle_url: str, client_state: str
    ) -> GraphSubscription:
        """Subscribe to created, updated and deleted messages of `resource`; Graph first validates both URLs."""
        body = {
            "changeType": CHANGE_TYPES,
            "notificationUrl": notification_url,
            "lifecycleNotificationUrl": lifecycle_url,
            "resource": resource,
            "expirationDateTime": graph_timestamp(self.longest_expiry()),
            "clientState": client_state,
        }
        return GraphSubscription.from_graph(self.call("POST", "subscriptions", json=body))

    def renew_subscription(self, subscription_id: str) -> GraphSubscription:
        """Extend a subscription to the longest expiry allowed (`PATCH /subscriptions/{id}`)."""
        body = {"expirationDateTime": graph_timestamp(self.longest_expiry())}
        return GraphSubscription.from_graph(self.call("PATCH", f"subscriptions/{subscription_id}", json=body))

    def reauthorize_subscription(self, subscription_id: str) -> None:
        """Answer a `reauthorizationRequired` challenge (`POST /subscriptions/{id}/reauthorize`)."""
        self.call("POST", f"subscriptions/{subscription_id}/reauthorize")

    def delete_subscription(self, subscription_id: str) -> bool:
        """Delete a subscription (`DELETE /subscriptions/{id}`): True, or False if Graph no longer knew it (404)."""
        try:
            self.call("DELETE", f"subscriptions/{subscription_id}")
        except RequestFailed as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def subscription(self, subscription_id: str) -> GraphSubscription | None:
        """A subscription of this app, or None if Graph does not know it (expired, removed, another app's)."""
        try:
            return GraphSubscription.from_graph(self.call("GET", f"subscriptions/{subscription_id}"))
        except RequestFailed as exc:
            if exc.status == 404:
                return None
            raise

    # -- content ---------------------------------------------------------------------------------------------

    def message(self, resource: str) -> Any:
        """The chatMessage a notification's `resource` names (`teams('…')/channels('…')/messages('…')`, or a
        reply below it)."""
        return self.call("GET", resource.lstrip("/"))

    def user(self, user_id: str) -> Any:
        """A user's id, mail and user principal name (for resolving them through the directory by e-mail)."""
        return self.call("GET", f"users/{user_id}", params={"$select": "id,mail,userPrincipalName"})

    def channel(self, team_id: str, channel_id: str) -> Any:
        """A channel's id, displayName and membershipType."""
        return self.call("GET", f"teams/{team_id}/channels/{channel_id}")

    def channel_members(self, team_id: str, channel_id: str) -> GraphCollection:
        """The members of a channel (conversationMember objects with `userId` and `email`), over all pages."""
        return self.collection(f"teams/{team_id}/channels/{channel_id}/members")
