"""The Teams receivers: Graph change notifications for channel messages, and Graph's lifecycle notifications.

Graph checks each URL before a subscription is created: it posts `?validationToken=<token>` and wants the token
back as `text/plain` with 200 within 10 seconds, so a request carrying one is answered at once. A notification
collection is `{"value": [...]}`; each change notification carries `subscriptionId`, `clientState`, `tenantId`,
`changeType` (`created`, `updated`, `deleted`) and `resource` (`teams('…')/channels('…')/messages('…')`, or a reply
`…/messages('…')/replies('…')`). A collection whose `clientState` does not match is refused with 403 and nothing of
it is used.

Graph wants a delivery answered within 3 seconds, and fetching the messages it names takes longer than that for a
burst (Graph throttles an app to about 20 message GETs a second per tenant), so the receiver answers first, as
Microsoft documents (validate, queue, 202, process): it queues one record per notification, without its
`clientState`, on `<ns>.connector.pending`, and `serve` answers 202 once the broker acknowledged them (503 if it
cannot, and Graph redelivers). The instance's fetch half (`connect run <name>`, `teams_fetcher.py`) fetches and
maps them. Receiving never calls Graph: only subscriptions not seen before are looked up in the background, after
the answer, for the lifecycle receiver.

Lifecycle notifications (`lifecycleEvent`) go to `<path>/lifecycle`: a receiver object answers one path, so they
have their own small receiver sharing the first one's Graph side and known subscriptions.
`reauthorizationRequired` is answered by reauthorizing and renewing the subscription, `subscriptionRemoved` by
creating it again, and `missed` becomes a dead letter naming the subscription and the time, for an operator to
backfill from.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from learnstream.errors import ConfigError, ConnectorError, LearnstreamError, RequestRejected, ServiceUnavailable
from producers.chat.teams_messages import TeamsMessages
from producers.contracts import CheckReport, OutgoingRecord, Receipt, ReceivedRequest
from producers.http_client import RequestFailed
from schemas.pending import PendingNotification, pending_key

logger = logging.getLogger(__name__)

_MESSAGES = re.compile(r"/messages\b", re.IGNORECASE)


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


def conversation_of(resource: Any) -> str:
    """The channel or chat part of a message resource (`teams('…')/channels('…')`), which keeps a channel's
    notifications in order on one partition; the whole resource if it names no messages, "" if it is not text."""
    if not isinstance(resource, str):
        return ""
    return _MESSAGES.split(resource.lstrip("/"), maxsplit=1)[0]


class TeamsNotificationReceiver:
    """Graph change notifications for the Teams messages of one tenant, at `/hooks/teams/<name>`: checked, queued
    on the pending topic and answered; the fetch half fetches the messages."""

    blocking = False  # never calls Graph while receiving

    def __init__(
        self,
        messages: TeamsMessages,
        client_state: str,
        max_body_bytes: int = 1_048_576,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.messages = messages
        self.name = messages.name
        self.path = messages.path
        self.tenant_id = messages.tenant_id
        self.client_state = client_state
        self.max_body_bytes = max_body_bytes
        self.now = now
        #: subscriptions looked up (or being looked up) in the background, for the lifecycle receiver
        self._learning: set[str] = set()
        self._background = ThreadPoolExecutor(1, thread_name_prefix=f"{self.name}-subscriptions")

    def check(self) -> CheckReport:
        """The client state is set and the app gets a token; where Graph must post."""
        self.messages.graph.token()
        return CheckReport(
            [
                f"client state set; a Graph token was issued for tenant {self.tenant_id}",
                f"Graph posts change notifications to {self.path} and lifecycle notifications to {self.path}/lifecycle",
                f"the fetch half (`learnstream connect run {self.name}`) fetches the messages they name",
            ]
        )

    def receive(self, request: ReceivedRequest) -> Receipt:
        """Echo a validation token; else check every clientState and queue each notification for the fetch half."""
        validation = validation_receipt(request)
        if validation is not None:
            return validation
        notifications = notifications_of(request, self.client_state)
        received_at = datetime.fromtimestamp(request.received_at, UTC)
        pending = [self.pending_record(notification, received_at) for notification in notifications]
        self.learn_subscriptions(notifications)
        return Receipt(202, pending=pending)

    def pending_record(self, notification: Mapping[str, Any], received_at: datetime) -> OutgoingRecord:
        """One notification as a pending record: without its clientState, keyed by this receiver and its channel."""
        kept = {key: value for key, value in notification.items() if key != "clientState"}
        value = PendingNotification(receiver=self.name, received_at=received_at, notification=kept).to_bytes()
        return OutgoingRecord(pending_key(self.name, conversation_of(notification.get("resource"))), value)

    def learn_subscriptions(self, notifications: Iterable[Mapping[str, Any]]) -> None:
        """Look up, after the answer, each subscription not seen before, so lifecycle events can name its resource
        and recreate it."""
        for subscription_id in {n.get("subscriptionId") for n in notifications}:
            if isinstance(subscription_id, str) and subscription_id not in self._learning:
                self._learning.add(subscription_id)
                self._background.submit(self.learn_subscription, subscription_id)

    def settle(self) -> None:
        """Wait until the subscription lookups queued so far are done."""
        self._background.submit(lambda: None).result()

    def learn_subscription(self, subscription_id: str) -> None:
        """Ask Graph about one subscription; forget having asked if Graph cannot answer now (asked again later)."""
        try:
            self.messages.known(subscription_id)
        except LearnstreamError as exc:
            self._learning.discard(subscription_id)
            logger.warning("%s: cannot look up subscription %s now (%s)", self.name, subscription_id, exc)


class TeamsLifecycleReceiver:
    """Graph's lifecycle notifications for the subscriptions of a `TeamsNotificationReceiver`, at its path +
    `/lifecycle`."""

    blocking = True  # reauthorizes, renews and recreates subscriptions through Graph while receiving

    def __init__(self, notifications: TeamsNotificationReceiver) -> None:
        self.notifications = notifications
        self.messages = notifications.messages
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
        messages, event = self.messages, notification.get("lifecycleEvent")
        subscription_id = str(notification.get("subscriptionId"))
        if notification.get("tenantId") != messages.tenant_id:
            return messages.dead_letter(
                notification, f"lifecycle notification of tenant {notification.get('tenantId')!r}"
            )
        if event == "missed":
            return messages.dead_letter(notification, self.missed(subscription_id))
        if event == "reauthorizationRequired":
            return self.reauthorize(notification, subscription_id)
        if event == "subscriptionRemoved":
            return self.recreate(notification, subscription_id)
        return messages.dead_letter(
            notification, f"unknown lifecycleEvent {event!r} for subscription {subscription_id}"
        )

    def missed(self, subscription_id: str) -> str:
        """The dead letter's detail for missed notifications: which subscription, which resource, and when."""
        known = self.messages.subscriptions.get(subscription_id)
        resource = f" (resource {known.resource})" if known is not None else ""
        when = self.messages.now().isoformat()
        return (
            f"Graph missed change notifications of subscription {subscription_id}{resource}, reported at {when}; "
            "backfill the resource's messages up to that time"
        )

    def reauthorize(self, notification: Mapping[str, Any], subscription_id: str) -> OutgoingRecord | None:
        """Reauthorize the subscription and renew it to the longest expiry."""
        messages = self.messages
        if messages.known(subscription_id) is None:
            return messages.dead_letter(
                notification, f"reauthorization asked for unknown subscription {subscription_id}"
            )
        try:
            messages.graph.reauthorize_subscription(subscription_id)
            messages.subscriptions[subscription_id] = messages.graph.renew_subscription(subscription_id)
        except RequestFailed as exc:  # removed meanwhile: the subscriptions keeper creates it again
            return messages.dead_letter(notification, f"subscription {subscription_id} cannot be reauthorized: {exc}")
        logger.info("%s: subscription %s reauthorized and renewed", self.name, subscription_id)
        return None

    def recreate(self, notification: Mapping[str, Any], subscription_id: str) -> OutgoingRecord | None:
        """Create a removed subscription again with its resource and URLs, if this receiver knew it."""
        messages = self.messages
        removed = messages.subscriptions.pop(subscription_id, None)
        if removed is None or removed.lifecycle_url is None:
            return messages.dead_letter(
                notification,
                f"subscription {subscription_id} was removed and is not known here; the subscriptions keeper "
                "creates the resource's subscription again on its next round",
            )
        try:
            made = messages.graph.create_subscription(
                removed.resource, removed.notification_url, removed.lifecycle_url, self.notifications.client_state
            )
        except ConnectorError as exc:
            return messages.dead_letter(notification, f"subscription {subscription_id} cannot be recreated: {exc}")
        messages.subscriptions[made.id] = made
        logger.info("%s: subscription %s removed by Graph; created %s again", self.name, subscription_id, made.id)
        return None
