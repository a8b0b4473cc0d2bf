"""The Teams receivers: Graph change notifications for channel messages, and Graph's lifecycle notifications.

Graph checks each URL before a subscription is created: it posts `?validationToken=<token>` and wants the token
back as `text/plain` with 200 within 10 seconds, so a request carrying one is answered at once. A notification
collection is `{"value": [...]}`; each change notification carries `subscriptionId`, `clientState`, `tenantId`,
`changeType` (`created`, `updated`, `deleted`) and `resource` (`teams('…')/channels('…')/messages('…')`, or a reply
`…/messages('…')/replies('…')`). Basic notifications carry no content, so each changed message is fetched through
Graph; a message Graph keeps after its deletion (with `deletedDateTime`) is fetched too, since an activity needs
the person who wrote it. A collection whose `clientState` does not match is refused with 403 and nothing of it is
used. When Graph cannot be reached the answer is 503: Graph retries a notification for up to 4 hours.

Lifecycle notifications (`lifecycleEvent`) go to `<path>/lifecycle`: a receiver object answers one path, so they
have their own small receiver sharing the first one's Graph client and known subscriptions.
`reauthorizationRequired` is answered by reauthorizing and renewing the subscription, `subscriptionRemoved` by
creating it again, and `missed` becomes a dead letter naming the subscription and the time, for an operator to
backfill from.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from learnstream.errors import ConfigError, ConnectorError, RequestRejected, ServiceUnavailable
from producers.chat.teams import MAPPING_ERRORS, TeamsScope, identity_id, message_activities
from producers.chat.teams_graph import GraphClient, GraphSubscription
from producers.contracts import CheckReport, OutgoingRecord, Receipt, ReceivedRequest
from producers.dead_letters import source_dead_letter
from producers.http_client import RequestFailed
from producers.identity import IdentityResolver
from producers.pseudonymise import AccountIds
from schemas.activity import SourceSystem

logger = logging.getLogger(__name__)
#: Messages of one delivery fetched from Graph at once. More would not help for long: Graph throttles an app to 20
#: channel-message GETs a second in a tenant, and 4 requests a second on one team or channel.
FETCHERS = 8

CHANGE_TYPES = frozenset({"created", "updated", "deleted"})


def validation_receipt(request: ReceivedRequest) -> Receipt | None:
    """The echo of Graph's validation token (URL-decoded by the query parsing), if the request is a validation."""
    token = request.query.get("validationToken")
    if token is None:
        return None
    return Receipt(200, token.encode("utf-8"), "text/plain")


def notifications_of(request: ReceivedRequest, client_state: str) -> list[Mapping[str, Any]]:
    """The notifications of a collection whose every `clientState` matches; 400 for another body, 403 for a
    notification without the right `clientState` (then none of them is used)."""
    try:
        document = json.loads(request.body)
    except (UnicodeDecodeError, ValueError):
        raise RequestRejected(400, "the body is not JSON") from None
    value = document.get("value") if isinstance(document, dict) else None
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise RequestRejected(400, 'the body is not a notification collection {"value": [...]}')
    expected = client_state.encode("utf-8")
    for item in value:
        given = item.get("clientState")
        if not isinstance(given, str) or not hmac.compare_digest(given.encode("utf-8"), expected):
            raise RequestRejected(403, "a notification's clientState does not match (check the client state variable)")
    return value


class TeamsNotificationReceiver:
    """Graph change notifications for the Teams messages of one tenant, at `/hooks/teams/<name>`."""

    blocking = True  # fetches each changed message from Graph while receiving

    def __init__(
        self,
        name: str,
        tenant_id: str,
        graph: GraphClient,
        client_state: str,
        resolver: IdentityResolver,
        account_id: AccountIds,
        max_body_bytes: int = 1_048_576,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = name
        self.path = f"/hooks/teams/{name}"
        self.tenant_id = tenant_id
        self.graph = graph
        self.client_state = client_state
        self.resolver = resolver
        self.scope = TeamsScope(tenant_id, resolver, account_id)
        self.max_body_bytes = max_body_bytes
        self.now = now
        #: subscription id -> the subscription, for the subscriptions of this receiver seen so far
        self.subscriptions: dict[str, GraphSubscription] = {}
        #: fetches the messages of one delivery in parallel (a delivery may carry many notifications)
        self.fetchers = ThreadPoolExecutor(FETCHERS, thread_name_prefix=f"{name}-graph")
        self._looked_up: set[str] = set()
        #: user id -> the lock held while that user is looked up (one lookup per user, others in parallel)
        self._lookups: dict[str, threading.Lock] = {}
        self._lookups_lock = threading.Lock()

    def check(self) -> CheckReport:
        """The client state is set and the app gets a token; where Graph must post."""
        self.graph.token()
        return CheckReport(
            [
                f"client state set; a Graph token was issued for tenant {self.tenant_id}",
                f"Graph posts change notifications to {self.path} and lifecycle notifications to {self.path}/lifecycle",
            ]
        )

    def receive(self, request: ReceivedRequest) -> Receipt:
        """Echo a validation token; else check every clientState, then fetch and map each changed message."""
        validation = validation_receipt(request)
        if validation is not None:
            return validation
        notifications = notifications_of(request, self.client_state)
        records: list[OutgoingRecord] = []
        letters: list[OutgoingRecord] = []
        try:  # fetched side by side, kept in order: Graph counts a delivery only if answered within 3 s
            for made, letter in self.fetchers.map(self.changes, notifications):
                records += made
                letters += [letter] if letter is not None else []
        except (ServiceUnavailable, ConfigError) as exc:  # Graph down or our credentials refused: Graph retries
            logger.error("%s: cannot fetch from Graph now (%s); asking Graph to retry", self.name, exc)
            raise RequestRejected(503, "Microsoft Graph cannot be reached now; retry later") from exc
        return Receipt(202, records=records, dead_letters=letters)

    def changes(self, notification: Mapping[str, Any]) -> tuple[list[OutgoingRecord], OutgoingRecord | None]:
        """The records of one change notification, or the dead letter saying why it was set aside."""
        not_ours = self.not_ours(notification)
        if not_ours is not None:
            return [], self.dead_letter(notification, not_ours)
        change, resource = notification.get("changeType"), notification.get("resource")
        if change not in CHANGE_TYPES or not isinstance(resource, str) or not resource:
            return [], self.dead_letter(notification, f"changeType {change!r} or resource {resource!r} unusable")
        try:
            message = self.graph.message(resource)
        except RequestFailed as exc:  # gone since (404), or a resource Graph does not serve
            return [], self.dead_letter(notification, f"the {change} message cannot be fetched: {exc}")
        if not isinstance(message, Mapping):
            return [], self.dead_letter(notification, "Graph answered the message's resource with no message")
        self.look_up(people_of(message))
        try:
            activities = list(message_activities(message, self.scope))
        except MAPPING_ERRORS as exc:
            return [], self.dead_letter(message, f"message cannot be mapped: {type(exc).__name__}: {exc}")
        return [OutgoingRecord(a.conversation_key.encode("utf-8"), a.to_bytes()) for a in activities], None

    def not_ours(self, notification: Mapping[str, Any]) -> str | None:
        """Why a notification is not for this receiver (another tenant, a subscription it does not know), or None."""
        if notification.get("tenantId") != self.tenant_id:
            return f"notification of tenant {notification.get('tenantId')!r}; {self.name} reads {self.tenant_id}"
        subscription_id = notification.get("subscriptionId")
        if not isinstance(subscription_id, str) or self.known(subscription_id) is None:
            return f"subscription {subscription_id!r} is not one of {self.name}'s"
        return None

    def known(self, subscription_id: str) -> GraphSubscription | None:
        """A subscription of this receiver: asked of Graph once, kept if it posts to this receiver's path."""
        if subscription_id not in self.subscriptions:
            subscription = self.graph.subscription(subscription_id)
            if subscription is None or urlsplit(subscription.notification_url).path.rstrip("/") != self.path:
                return None
            self.subscriptions[subscription_id] = subscription
        return self.subscriptions[subscription_id]

    def look_up(self, users: Iterable[str]) -> None:
        """Learn the e-mail of each user not looked up yet whom the directory does not list by account.

        Messages are fetched in parallel, and so are the lookups of different users; a user is looked up once, and
        a message naming a user another fetch is looking up waits for that answer, so no activity gets a stand-in
        pseudonym while its person is being looked up. A user already looked up costs no lock. A user is marked as
        looked up only once Graph answered (an outage is retried with the next message).
        """
        for user_id in sorted(set(users)):
            if user_id in self._looked_up:
                continue
            with self._lookups_lock:
                lookup = self._lookups.setdefault(user_id, threading.Lock())
            with lookup:
                if user_id not in self._looked_up:
                    self.learn(user_id)
            with self._lookups_lock:  # looked up for good: its lock is not needed any more
                self._lookups.pop(user_id, None)

    def learn(self, user_id: str) -> None:
        """Look one user up: the directory by account, else Graph for the e-mail the directory may list."""
        if self.resolver.directory.by_account(self.resolver.account_kind, user_id) is None:
            try:
                user = self.graph.user(user_id)
            except RequestFailed as exc:  # a removed account: it keeps a source-scoped pseudonym
                logger.warning("%s: cannot look up a user (%s)", self.name, exc)
            else:
                mail = user.get("mail") or user.get("userPrincipalName") if isinstance(user, Mapping) else None
                if isinstance(mail, str) and "@" in mail:
                    self.resolver.emails[user_id] = mail
        self._looked_up.add(user_id)

    def dead_letter(self, original: Any, detail: str) -> OutgoingRecord:
        """A dead letter for a notification or message this receiver cannot use (never holding the clientState)."""
        logger.warning("%s: %s (set aside in the dead-letter topic)", self.name, detail)
        kept = {key: value for key, value in original.items() if key != "clientState"}
        data = json.dumps(kept, ensure_ascii=False).encode("utf-8")
        return source_dead_letter(SourceSystem.TEAMS, self.tenant_id, detail, data, self.now())


def people_of(message: Mapping[str, Any]) -> set[str]:
    """The user ids a message names: its author, the people mentioned, the people who reacted."""
    people: set[str] = set()
    holders: list[Any] = [message.get("from")]
    holders += [m.get("mentioned") for m in message.get("mentions") or [] if isinstance(m, Mapping)]
    holders += [r.get("user") for r in message.get("reactions") or [] if isinstance(r, Mapping)]
    for holder in holders:
        try:
            found = identity_id(holder, "identitySet")
        except TypeError:
            continue  # mapping the message sets it aside with the reason
        if found is not None and not found[1]:
            people.add(found[0])
    return people


class TeamsLifecycleReceiver:
    """Graph's lifecycle notifications for the subscriptions of a `TeamsNotificationReceiver`, at its path +
    `/lifecycle`."""

    blocking = True  # reauthorizes, renews and recreates subscriptions through Graph while receiving

    def __init__(self, notifications: TeamsNotificationReceiver) -> None:
        self.notifications = notifications
        self.name = f"{notifications.name}-lifecycle"
        self.path = f"{notifications.path}/lifecycle"
        self.max_body_bytes = notifications.max_body_bytes

    def check(self) -> CheckReport:
        """Where Graph posts lifecycle notifications."""
        return CheckReport([f"Graph posts lifecycle notifications to {self.path}"])

    def receive(self, request: ReceivedRequest) -> Receipt:
        """Echo a validation token; else check every clientState and act on each lifecycle event."""
        validation = validation_receipt(request)
        if validation is not None:
            return validation
        letters: list[OutgoingRecord] = []
        try:
            for notification in notifications_of(request, self.notifications.client_state):
                letter = self.act_on(notification)
                letters += [letter] if letter is not None else []
        except (ServiceUnavailable, ConfigError) as exc:
            logger.error("%s: cannot reach Graph now (%s); asking Graph to retry", self.name, exc)
            raise RequestRejected(503, "Microsoft Graph cannot be reached now; retry later") from exc
        return Receipt(202, dead_letters=letters)

    def act_on(self, notification: Mapping[str, Any]) -> OutgoingRecord | None:
        """Reauthorize, recreate or report what a lifecycle notification asks for; a dead letter where an operator
        must act."""
        receiver, event = self.notifications, notification.get("lifecycleEvent")
        subscription_id = str(notification.get("subscriptionId"))
        if notification.get("tenantId") != receiver.tenant_id:
            return receiver.dead_letter(
                notification, f"lifecycle notification of tenant {notification.get('tenantId')!r}"
            )
        if event == "missed":
            return receiver.dead_letter(notification, self.missed(subscription_id))
        if event == "reauthorizationRequired":
            return self.reauthorize(notification, subscription_id)
        if event == "subscriptionRemoved":
            return self.recreate(notification, subscription_id)
        return receiver.dead_letter(
            notification, f"unknown lifecycleEvent {event!r} for subscription {subscription_id}"
        )

    def missed(self, subscription_id: str) -> str:
        """The dead letter's detail for missed notifications: which subscription, which resource, and when."""
        known = self.notifications.subscriptions.get(subscription_id)
        resource = f" (resource {known.resource})" if known is not None else ""
        when = self.notifications.now().isoformat()
        return (
            f"Graph missed change notifications of subscription {subscription_id}{resource}, reported at {when}; "
            "backfill the resource's messages up to that time"
        )

    def reauthorize(self, notification: Mapping[str, Any], subscription_id: str) -> OutgoingRecord | None:
        """Reauthorize the subscription and renew it to the longest expiry."""
        receiver = self.notifications
        if receiver.known(subscription_id) is None:
            return receiver.dead_letter(
                notification, f"reauthorization asked for unknown subscription {subscription_id}"
            )
        try:
            receiver.graph.reauthorize_subscription(subscription_id)
            receiver.subscriptions[subscription_id] = receiver.graph.renew_subscription(subscription_id)
        except RequestFailed as exc:  # removed meanwhile: the subscriptions keeper creates it again
            return receiver.dead_letter(notification, f"subscription {subscription_id} cannot be reauthorized: {exc}")
        logger.info("%s: subscription %s reauthorized and renewed", self.name, subscription_id)
        return None

    def recreate(self, notification: Mapping[str, Any], subscription_id: str) -> OutgoingRecord | None:
        """Create a removed subscription again with its resource and URLs, if this receiver knew it."""
        receiver = self.notifications
        removed = receiver.subscriptions.pop(subscription_id, None)
        if removed is None or removed.lifecycle_url is None:
            return receiver.dead_letter(
                notification,
                f"subscription {subscription_id} was removed and is not known here; the subscriptions keeper "
                "creates the resource's subscription again on its next round",
            )
        try:
            made = receiver.graph.create_subscription(
                removed.resource, removed.notification_url, removed.lifecycle_url, receiver.client_state
            )
        except ConnectorError as exc:
            return receiver.dead_letter(notification, f"subscription {subscription_id} cannot be recreated: {exc}")
        receiver.subscriptions[made.id] = made
        logger.info("%s: subscription %s removed by Graph; created %s again", self.name, subscription_id, made.id)
        return None
