"""The keeper of an instance's Graph subscriptions, run by `connect run` as a pull source that publishes nothing.

Graph stops notifying when a subscription expires (a chatMessage subscription lasts at most 4,320 minutes), so each
read makes sure every configured resource has a live subscription posting to the receiver: one Graph does not know
(never made, expired, removed) is created, which makes Graph validate the receiver's two URLs first; one expiring
within the margin is renewed (`PATCH`). The cursor keeps each resource's subscription id and expiry, so a restart
renews rather than duplicates. Notifications made while no subscription was alive are not delivered later: the
log says from when a resource was uncovered. A resource removed from the configuration has its subscription deleted
(`DELETE /subscriptions/{id}`; a 404 means Graph had dropped it already) and leaves the cursor; one Graph could not
delete now stays in the cursor, and the next read tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta

from learnstream.errors import ConfigError, SourceUnavailable
from producers.chat.teams_graph import GraphClient, GraphSubscription
from producers.contracts import Batch, CheckReport, Cursor
from producers.http_client import RequestFailed
from producers.identity import IdentityResolver

logger = logging.getLogger(__name__)


class SubscriptionState(Cursor):
    """One resource's subscription: its id and when it expires (Unix seconds)."""

    id: str
    expires: int


class TeamsSubscriptionsCursor(Cursor):
    """The subscription of every configured resource (resources added later get one on the next read, removed ones
    lose theirs)."""

    subscriptions: dict[str, SubscriptionState] = {}


def channel_of_resource(resource: str) -> tuple[str, str] | None:
    """(team id, channel id) of a `/teams/{team-id}/channels/{channel-id}/messages` resource, else None."""
    parts = resource.strip("/").split("/")
    if len(parts) == 5 and parts[0] == "teams" and parts[2] == "channels" and parts[4] == "messages":
        return parts[1], parts[3]
    return None


class TeamsSubscriptions:
    """The Graph subscriptions of a list of Teams resources, kept alive for one notification receiver."""

    cursor_type = TeamsSubscriptionsCursor

    def __init__(
        self,
        name: str,
        graph: GraphClient,
        resources: Sequence[str],
        notification_url: str,
        client_state: str,
        resolver: IdentityResolver,
        *,
        renew_margin: timedelta = timedelta(hours=12),
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not resources:
            raise ConfigError(f"{name}: name at least one Graph resource to subscribe to")
        self.name = name
        self.graph = graph
        self.resources = tuple(resources)
        self.notification_url = notification_url.rstrip("/")
        self.lifecycle_url = f"{self.notification_url}/lifecycle"
        self.client_state = client_state
        self.resolver = resolver
        self.renew_margin = renew_margin
        self.now = now

    def start_cursor(self, since: datetime | None) -> TeamsSubscriptionsCursor:
        """No subscription yet (Graph notifies of changes from a subscription's creation on: `since` is moot)."""
        if since is not None:
            logger.warning("%s: Graph notifications cannot be backfilled; subscribing from now", self.name)
        return TeamsSubscriptionsCursor()

    def check(self) -> CheckReport:
        """A token is issued; each channel resource is readable, and how many of its members the directory resolves."""
        self.graph.token()
        checks = [f"a Graph token was issued; notifications go to {self.notification_url}"]
        members: set[str] = set()
        for resource in self.resources:
            channel = channel_of_resource(resource)
            if channel is None:
                checks.append(f"{resource}: a tenant-wide resource, members not counted")
                continue
            info = self.graph.channel(*channel)
            label = info.get("displayName") if isinstance(info, dict) else None
            found = self.graph.channel_members(*channel)
            for member in found.items:
                if isinstance(member, dict) and isinstance(member.get("userId"), str):
                    members.add(member["userId"])
                    if isinstance(member.get("email"), str) and member["email"]:
                        self.resolver.emails[member["userId"]] = member["email"]
            read = f"channel {label or channel[1]}: {len(found.items)} members read in {found.pages} pages"
            if not found.complete:
                read += " (Graph had more pages; stopped at the page limit, so the counts below are a lower bound)"
            checks.append(read)
        unresolved = sum(not self.resolver.is_resolved(member) for member in members)
        return CheckReport(checks, accounts_seen=len(members), unresolved_accounts=unresolved)

    def read(self, cursor: TeamsSubscriptionsCursor) -> Iterator[Batch[TeamsSubscriptionsCursor]]:
        """One empty batch whose cursor holds a live subscription for every resource, and no removed resource."""
        kept = {resource: self.keep(resource, cursor.subscriptions.get(resource)) for resource in self.resources}
        for resource, state in cursor.subscriptions.items():
            if resource not in kept and not self.unsubscribe(resource, state):
                kept[resource] = state  # deleted on a later read
        yield Batch([], TeamsSubscriptionsCursor(subscriptions=kept))

    def unsubscribe(self, resource: str, state: SubscriptionState) -> bool:
        """Delete the subscription of a resource no longer configured; False if Graph cannot delete it now."""
        try:
            deleted = self.graph.delete_subscription(state.id)
        except (RequestFailed, SourceUnavailable) as exc:  # the configured resources are kept alive regardless
            logger.warning(
                "%s: cannot delete subscription %s of %s, which is no longer configured (%s); trying again next read",
                self.name,
                state.id,
                resource,
                exc,
            )
            return False
        if deleted:
            logger.info("%s: %s is no longer configured; deleted its subscription %s", self.name, resource, state.id)
        else:
            logger.info(
                "%s: %s is no longer configured; Graph had dropped its subscription already", self.name, resource
            )
        return True

    def keep(self, resource: str, state: SubscriptionState | None) -> SubscriptionState:
        """The resource's subscription after renewing it if it expires soon, or creating it if Graph lacks it."""
        now = self.now()
        if state is not None and datetime.fromtimestamp(state.expires, UTC) > now:
            if datetime.fromtimestamp(state.expires, UTC) - now > self.renew_margin:
                return state
            try:
                renewed = self.graph.renew_subscription(state.id)
            except RequestFailed as exc:
                if exc.status != 404:
                    raise
                logger.warning("%s: subscription %s of %s is gone; creating it again", self.name, state.id, resource)
            else:
                logger.info("%s: renewed the subscription of %s until %s", self.name, resource, renewed.expires)
                return self.state_of(renewed)
        elif state is not None:
            logger.warning(
                "%s: the subscription of %s expired at %s; changes since were not notified",
                self.name,
                resource,
                datetime.fromtimestamp(state.expires, UTC).isoformat(),
            )
        made = self.graph.create_subscription(resource, self.notification_url, self.lifecycle_url, self.client_state)
        logger.info("%s: subscribed to %s until %s", self.name, resource, made.expires)
        return self.state_of(made)

    @staticmethod
    def state_of(subscription: GraphSubscription) -> SubscriptionState:
        """The cursor's record of a subscription."""
        return SubscriptionState(id=subscription.id, expires=int(subscription.expires.timestamp()))
