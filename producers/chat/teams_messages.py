"""The Graph side of a `teams-notifications` instance: which notifications are its own, and the changed message a
notification names, fetched through Graph and mapped to activities.

Basic change notifications carry no content, so each changed message is fetched; a message Graph keeps after its
deletion (with `deletedDateTime`) is fetched too, since an activity needs the person who wrote it. Each author,
mentioned or reacting person the directory does not list by account is looked up once (for an e-mail the directory
may list). Message GETs take turns on a rate limit: Graph throttles an app to about 20 channel-message GETs a second
per tenant (and 4 a second per channel), and answers 429 with `Retry-After` beyond it, which the HTTP client waits
out. The fetch half (`teams_fetcher.py`) and the lifecycle receiver share this.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from producers.chat.teams import MAPPING_ERRORS, TeamsScope, identity_id, message_activities
from producers.chat.teams_graph import GraphClient, GraphSubscription
from producers.contracts import OutgoingRecord
from producers.dead_letters import source_dead_letter
from producers.http_client import RequestFailed
from producers.identity import IdentityResolver
from producers.pseudonymise import AccountIds
from producers.rate_limit import RateLimit
from schemas.activity import SourceSystem

logger = logging.getLogger(__name__)

CHANGE_TYPES = frozenset({"created", "updated", "deleted"})


class TeamsMessages:
    """The messages and subscriptions of one tenant as a `teams-notifications` instance sees them through Graph."""

    def __init__(
        self,
        name: str,
        tenant_id: str,
        graph: GraphClient,
        resolver: IdentityResolver,
        account_id: AccountIds,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        rate: RateLimit | None = None,
    ) -> None:
        self.name = name
        self.path = f"/hooks/teams/{name}"
        self.tenant_id = tenant_id
        self.graph = graph
        self.resolver = resolver
        self.scope = TeamsScope(tenant_id, resolver, account_id)
        self.now = now
        self.rate = rate or RateLimit(None)
        #: subscription id -> the subscription, for the subscriptions of this instance seen so far
        self.subscriptions: dict[str, GraphSubscription] = {}
        self._looked_up: set[str] = set()
        #: user id -> the lock held while that user is looked up (one lookup per user, others in parallel)
        self._lookups: dict[str, threading.Lock] = {}
        self._lookups_lock = threading.Lock()

    def unusable(self, notification: Mapping[str, Any]) -> str | None:
        """Why a change notification cannot be fetched (another tenant, a subscription not ours, no resource), or
        None. Asks Graph about a subscription not seen before."""
        if notification.get("tenantId") != self.tenant_id:
            return f"notification of tenant {notification.get('tenantId')!r}; {self.name} reads {self.tenant_id}"
        subscription_id = notification.get("subscriptionId")
        if not isinstance(subscription_id, str) or self.known(subscription_id) is None:
            return f"subscription {subscription_id!r} is not one of {self.name}'s"
        change, resource = notification.get("changeType"), notification.get("resource")
        if change not in CHANGE_TYPES or not isinstance(resource, str) or not resource:
            return f"changeType {change!r} or resource {resource!r} unusable"
        return None

    def fetch(self, notification: Mapping[str, Any]) -> tuple[list[OutgoingRecord], OutgoingRecord | None]:
        """The records of the message a usable notification names, as it reads now, or the dead letter saying why
        there are none (Graph answered 404: gone since; a message that cannot be mapped)."""
        change, resource = notification.get("changeType"), str(notification["resource"])
        self.rate.wait_turn()
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

    def known(self, subscription_id: str) -> GraphSubscription | None:
        """A subscription of this instance: asked of Graph once, kept if it posts to this instance's path."""
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
        """A dead letter for a notification or message this instance cannot use (never holding the clientState)."""
        logger.warning("%s: %s (set aside in the dead-letter topic)", self.name, detail)
        kept = {key: value for key, value in original.items() if key != "clientState"}
        data = json.dumps(kept, ensure_ascii=False).encode("utf-8")
        return source_dead_letter(SourceSystem.TEAMS, self.tenant_id, detail, data, self.now())

    def unreadable(self, data: bytes, detail: str) -> OutgoingRecord:
        """A dead letter for a pending record that is not a pending notification, with its bytes as they were."""
        logger.warning("%s: %s (set aside in the dead-letter topic)", self.name, detail)
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
