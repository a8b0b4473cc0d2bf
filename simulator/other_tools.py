"""The simulated organisation in Mattermost and Confluence as well as (or instead of) Slack and MediaWiki.

The same conversations and page histories are generated once (`simulator/chat.py`, `simulator/wiki.py`) and
split between the chosen tools: a channel lives in Slack or in Mattermost, a page in MediaWiki or in
Confluence, decided by a stable hash of its name, as in an organisation that runs both. What lands in
Mattermost or Confluence is written into their local servers (`simulator/mattermost_api.py`,
`simulator/confluence_api.py`) in their own formats, for the real pull connectors to read.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from simulator.confluence_api import ConfluenceApi, User, dc_comment, dc_page, webhook_delivery
from simulator.graph_api import GraphServer
from simulator.mattermost_api import MattermostServer, outgoing_webhook_body
from simulator.mediawiki_wire import WikiChange
from simulator.organisation import Organisation, confluence_user_key

CHAT_TOOLS = ("slack", "mattermost", "teams")
WIKI_TOOLS = ("wiki", "confluence")
#: Confluence spaces for the wiki's namespaces (talk pages become comments; user pages stay on the wiki).
SPACES = {0: "TEAMS", 4: "HANDBOOK", 12: "HELP"}
TALK = 1


def tool_for(name: str, tools: Sequence[str]) -> str:
    """Which of the chosen tools holds a channel or a page: a stable hash of its name picks one."""
    if len(tools) == 1:
        return tools[0]
    return tools[int(hashlib.sha256(name.encode("utf-8")).hexdigest(), 16) % len(tools)]


def mattermost_id(*parts: str) -> str:
    """A Mattermost-shaped id (26 lower-case letters and digits) standing for a simulated Slack object."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:26]


def channel_of(envelope: Mapping[str, Any]) -> str | None:
    """The Slack channel an envelope's event happened in."""
    event = envelope.get("event") or {}
    if event.get("type") == "reaction_added":
        return str((event.get("item") or {}).get("channel") or "") or None
    return str(event.get("channel") or "") or None


def split_chat(envelopes: Iterable[dict[str, Any]], chat_tools: Sequence[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each envelope with the chat tool its channel lives in."""
    for envelope in envelopes:
        channel = channel_of(envelope)
        yield (tool_for(channel, chat_tools) if channel else chat_tools[0]), envelope


def populate_mattermost(
    server: MattermostServer, org: Organisation, envelopes: Iterable[Mapping[str, Any]], team_id: str
) -> int:
    """Write Slack envelopes into the Mattermost server as its own posts, edits, deletions and reactions;
    direct messages and bot posts are left out. Returns the posts written."""
    members = {member.slack_id: member for member in org.members}
    posts = 0

    def user(slack_user: str) -> str | None:
        member = members.get(slack_user)
        if member is None:
            return None
        user_id = mattermost_id("user", slack_user)
        if user_id not in server.users:
            server.add_user(user_id, member.handle, member.email)
        return user_id

    def post_id(channel: str, ts: str) -> str:
        return mattermost_id("post", channel, ts)

    for envelope in envelopes:
        event = envelope.get("event") or {}
        channel = channel_of(envelope)
        if not channel:
            continue
        channel_type = event.get("channel_type")
        if event.get("type") == "message" and channel_type in ("im", "mpim"):
            continue
        channel_id = mattermost_id("channel", channel)
        if channel_id not in server.channels and event.get("type") == "message":
            server.add_channel(channel_id, channel.lower(), team_id, "P" if channel_type == "group" else "O")
        if event.get("type") == "reaction_added":
            item = event.get("item") or {}
            reactor = user(str(event.get("user") or ""))
            target = post_id(channel, str(item.get("ts")))
            if reactor and target in server.posts:
                server.react(target, reactor, str(event["reaction"]), millis(event["event_ts"]))
            continue
        subtype = event.get("subtype")
        if subtype == "message_changed":
            message = event.get("message") or {}
            target = post_id(channel, str(message.get("ts")))
            if target in server.posts and (message.get("edited") or {}).get("ts"):
                server.edit(target, millis(message["edited"]["ts"]), str(message.get("text") or ""))
            continue
        if subtype == "message_deleted":
            target = post_id(channel, str(event.get("deleted_ts")))
            if target in server.posts:
                server.delete(target, millis(event.get("event_ts") or event["ts"]))
            continue
        author = user(str(event.get("user") or ""))
        if author is None or subtype not in (None, "thread_broadcast"):
            continue
        ts = str(event["ts"])
        thread_ts = str(event.get("thread_ts") or ts)
        root = post_id(channel, thread_ts) if thread_ts != ts else ""
        files = [mattermost_id("file", str(file["id"])) for file in event.get("files") or []]
        server.post(
            post_id(channel, ts),
            channel_id,
            author,
            millis(ts),
            str(event.get("text") or ""),
            root_id=root if root in server.posts else "",
            file_ids=files,
        )
        posts += 1
    return posts


def mattermost_webhook_bodies(
    org: Organisation, envelopes: Iterable[Mapping[str, Any]], token: str, team_id: str
) -> Iterator[tuple[bytes, str]]:
    """What Mattermost's outgoing webhook posts for the envelopes' new posts in public channels (it carries no
    edits, reactions or thread roots): form bodies, with the same post ids the REST API gives them."""
    members = {member.slack_id: member for member in org.members}
    for envelope in envelopes:
        event = envelope.get("event") or {}
        if event.get("type") != "message" or event.get("subtype") or event.get("channel_type") != "channel":
            continue
        author = members.get(str(event.get("user") or ""))
        if author is None:
            continue
        channel, ts = str(event["channel"]), str(event["ts"])
        yield outgoing_webhook_body(
            token=token,
            team_id=team_id,
            team_domain="simulated",
            channel_id=mattermost_id("channel", channel),
            channel_name=channel.lower(),
            timestamp_ms=millis(ts),
            user_id=mattermost_id("user", author.slack_id),
            user_name=author.handle,
            post_id=mattermost_id("post", channel, ts),
            text=str(event.get("text") or ""),
        )


def split_wiki(changes: Iterable[WikiChange], wiki_tools: Sequence[str]) -> Iterator[tuple[str, WikiChange]]:
    """Each wiki change with the tool its page lives in (a talk page with its page)."""
    for change in changes:
        yield tool_for(change.title.removeprefix("Talk:"), wiki_tools), change


def confluence_users(org: Organisation) -> list[User]:
    """The organisation's Atlassian accounts (account ids as Atlassian makes them, e-mails shown)."""
    return [User(confluence_account(member.wiki_user), member.real_name, member.email) for member in org.members]


def confluence_account(wiki_user: str) -> str:
    """The Atlassian account id standing for a simulated wiki user."""
    return "557058:" + mattermost_id("account", wiki_user)


def populate_confluence(api: ConfluenceApi, changes: Iterable[WikiChange]) -> int:
    """Write wiki changes into Confluence: creations and edits as page versions, talk-page edits as comments on
    their page; user pages, anonymous and log entries are left out. Returns the versions and comments written."""
    pages: dict[str, str] = {}
    written = 0
    for change in sorted(changes, key=lambda c: (c.timestamp, c.rcid)):
        if change.anon or change.type == "log" or change.namespace not in (*SPACES, TALK):
            continue
        account = confluence_account(change.user)
        when = change.timestamp.astimezone(UTC)
        if change.namespace == TALK:
            page = pages.get(change.title.removeprefix("Talk:"))
            if page is not None:
                api.add_comment(page, account, when)
                written += 1
            continue
        if change.title not in pages:
            pages[change.title] = api.add_page(SPACES[change.namespace], change.title, account, when, change.comment)
        else:
            api.edit_page(pages[change.title], account, when, change.comment, change.minor)
        written += 1
    return written


def confluence_content_id(*parts: str) -> int:
    """A Data Center content id (a positive integer) standing for a simulated page or comment."""
    return int(hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:12], 16)


def confluence_webhook_deliveries(
    changes: Iterable[WikiChange], secret: bytes, base_url: str
) -> Iterator[tuple[bytes, dict[str, str]]]:
    """What a Confluence Data Center webhook posts for wiki changes written into Confluence, signed with the
    secret: `page_created` for a page's first version, `page_updated` for later ones, `comment_created` for a
    talk-page edit on its page; user pages, anonymous and log entries are left out (as `populate_confluence`)."""
    pages: dict[str, dict[str, Any]] = {}
    for change in sorted(changes, key=lambda c: (c.timestamp, c.rcid)):
        if change.anon or change.type == "log" or change.namespace not in (*SPACES, TALK):
            continue
        user_key, when = confluence_user_key(change.user), change.timestamp.astimezone(UTC)
        if change.namespace == TALK:
            page = pages.get(change.title.removeprefix("Talk:"))
            if page is not None:
                comment = dc_comment(confluence_content_id("comment", str(change.rcid)), page, user_key, when)
                yield webhook_delivery("comment_created", secret, user_key, when, comment=comment)
            continue
        previous = pages.get(change.title)
        if previous is None:
            page_id = confluence_content_id("page", change.title)
            page = dc_page(page_id, SPACES[change.namespace], change.title, 1, user_key, user_key, when, when, base_url)
            pages[change.title] = page
            yield webhook_delivery("page_created", secret, user_key, when, page=page)
            continue
        page = {**previous, "version": previous["version"] + 1, "lastModifierKey": user_key}
        page["modificationDate"] = int(when.timestamp() * 1000)
        pages[change.title] = page
        yield webhook_delivery("page_updated", secret, user_key, when, page=page, update_trigger="edit_page")


logger = logging.getLogger(__name__)
#: The simulated organisation's one team in Teams.
TEAMS_TEAM = "5f1c3a9e-7b2d-4e8f-9a6c-1d2e3f4a5b6c"


def teams_user(slack_user: str) -> str:
    """The Entra ID object id standing for a simulated Slack account."""
    return str(uuid.UUID(hashlib.sha256(f"teams-user\x1f{slack_user}".encode()).hexdigest()[:32]))


def teams_channel(slack_channel: str) -> str:
    """The Teams channel id standing for a simulated Slack channel."""
    return f"19:{mattermost_id('teams-channel', slack_channel)}@thread.tacv2"


def teams_resource(channel: str) -> str:
    """The Graph resource a subscription to a channel's messages names."""
    return f"/teams/{TEAMS_TEAM}/channels/{channel}/messages"


def teams_channels(envelopes: Iterable[Mapping[str, Any]]) -> list[str]:
    """The Teams channels the envelopes' public and private channel messages live in (direct messages stay out)."""
    return sorted(
        {
            teams_channel(str(event["channel"]))
            for envelope in envelopes
            if (event := envelope.get("event") or {}).get("type") == "message"
            and event.get("channel_type") in ("channel", "group")
        }
    )


@dataclass(frozen=True)
class TeamsChange:
    """One change to a Teams channel: what it does to Graph's messages, and the notification it causes."""

    channel: str
    message_id: str
    change_type: str  # created, updated, deleted
    operation: str  # the GraphServer method that makes the change: post, edit, delete, react
    arguments: tuple[Any, ...]
    options: Mapping[str, Any] = field(default_factory=dict)

    def apply(self, graph: GraphServer) -> None:
        """Make the change in the local Graph."""
        getattr(graph, self.operation)(TEAMS_TEAM, self.channel, self.message_id, *self.arguments, **self.options)


def teams_changes(org: Organisation, envelopes: Iterable[Mapping[str, Any]]) -> list[TeamsChange]:
    """Slack envelopes as Teams changes in order: posts and replies created, edits and reactions updated,
    deletions deleted; direct messages and bot posts are left out. Registers the people as Graph users."""
    members = {member.slack_id: member for member in org.members}
    changes: list[TeamsChange] = []
    known: set[str] = set()

    def message_id(channel: str, ts: str) -> str:
        return str(int(float(ts) * 1000))  # Teams message ids are epoch milliseconds

    for envelope in envelopes:
        event = envelope.get("event") or {}
        slack_channel = channel_of(envelope)
        if not slack_channel or (event.get("type") == "message" and event.get("channel_type") in ("im", "mpim")):
            continue
        channel = teams_channel(slack_channel)
        if event.get("type") == "reaction_added":
            item = event.get("item") or {}
            target = message_id(channel, str(item.get("ts")))
            reactor = members.get(str(event.get("user")))
            if reactor is not None and target in known:
                who, at = teams_user(reactor.slack_id), datetime.fromtimestamp(float(event["event_ts"]), UTC)
                changes.append(TeamsChange(channel, target, "updated", "react", (who, "like", at)))
            continue
        subtype = event.get("subtype")
        if subtype == "message_changed":
            message = event.get("message") or {}
            target = message_id(channel, str(message.get("ts")))
            edited = (message.get("edited") or {}).get("ts")
            if edited and target in known:
                at, html = datetime.fromtimestamp(float(edited), UTC), f"<p>{message.get('text') or ''}</p>"
                changes.append(TeamsChange(channel, target, "updated", "edit", (at, html)))
            continue
        if subtype == "message_deleted":
            target = message_id(channel, str(event.get("deleted_ts")))
            if target in known:
                at = datetime.fromtimestamp(float(event.get("event_ts") or event["ts"]), UTC)
                changes.append(TeamsChange(channel, target, "deleted", "delete", (at,)))
            continue
        author = members.get(str(event.get("user") or ""))
        if author is None or subtype not in (None, "thread_broadcast"):
            continue
        ts = str(event["ts"])
        thread_ts = str(event.get("thread_ts") or ts)
        own, root = message_id(channel, ts), message_id(channel, thread_ts)
        reply_to = root if thread_ts != ts and root in known else None
        at, html = datetime.fromtimestamp(float(ts), UTC), f"<p>{event.get('text') or ''}</p>"
        user = teams_user(author.slack_id)
        changes.append(TeamsChange(channel, own, "created", "post", (user, at, html), {"replyToId": reply_to}))
        known.add(own)
    return changes


def register_teams_people(graph: GraphServer, org: Organisation) -> None:
    """The organisation's people as Graph users (object id, mail), so the receiver can resolve them by e-mail."""
    for member in org.members:
        user_id = teams_user(member.slack_id)
        graph.users[user_id] = {
            "id": user_id,
            "displayName": member.real_name,
            "mail": member.email,
            "userPrincipalName": member.email,
        }


def replay_teams_on_subscription(graph: GraphServer, changes: Sequence[TeamsChange], stop: threading.Event) -> None:
    """Play each channel's changes, with a change notification each, once a subscription to that channel exists
    (as in Teams, where Graph notifies only of what happens after subscribing). Runs until `stop` is set."""
    by_channel: dict[str, list[TeamsChange]] = {}
    for change in changes:
        by_channel.setdefault(change.channel, []).append(change)
    played: set[str] = set()
    while not stop.wait(0.5):
        for subscription_id, subscription in list(graph.subscriptions.items()):
            resource = str(subscription.get("resource"))
            channel = next((c for c in by_channel if teams_resource(c) == resource), None)
            if channel is None or channel in played:
                continue
            played.add(channel)
            for change in by_channel[channel]:
                change.apply(graph)
                path = f"teams('{TEAMS_TEAM}')/channels('{channel}')/messages('{change.message_id}')"
                for _attempt in range(5):
                    answer = graph.notify([graph.notification(subscription_id, change.change_type, path)])
                    if answer.status_code < 300:
                        break
                    stop.wait(1.0)
                else:
                    logger.warning("the receiver kept refusing a notification for %s", path)


def millis(ts: Any) -> int:
    """A Slack `ts` as Mattermost's epoch milliseconds."""
    return int(float(ts) * 1000)
