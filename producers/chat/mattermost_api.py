"""Mattermost channels as a pull source over the REST API v4: posts, replies, edits, deletions, files, reactions.

What the API documents, and what this source makes of it (`GET /api/v4/channels/{channel_id}/posts`):
- `since` (Unix ms) returns every post *modified* after that time (`update_at > since`): new posts, edits,
  deletions, and posts whose reactions changed; `order` lists them, `posts` also holds the roots of the replies
  among them (unmodified roots are not in `order` and are not read again). `since` must not be combined with
  `page`, `per_page`, `before` or `after`, and the answer is capped at 1000 posts with no guarantee that they
  are consecutive. It also returns deleted posts and the deleted copies Mattermost keeps of edited posts'
  earlier versions (`original_id` set): the latter are skipped.
- `page`/`per_page` (at most 200) and `before=<post id>` page through posts newest first by `create_at`,
  without deleted ones. `before` is anchored on a post, so pages do not shift when posts arrive during a
  backfill; it selects posts created strictly before the anchor, so the anchor is put just before the group of
  posts sharing the page's oldest millisecond, and that group is skipped when it is read again.

So a first run backfills by paging with `before` down to the backfill start, then follows live with `since`,
from a minute before the backfill began (a clock ahead of the server's must not open a gap; posts read twice
keep their activity ids). The cursor, per channel, is the last `update_at` read and the ids read at that exact
millisecond: the next poll asks `since=update_at - 1` and skips those, so a restart neither loses nor repeats
a post. A `since` answer of 1000 posts may be incomplete: the channel is then backfilled from its cursor again.
A changed post is mapped whole (its unchanged items keep their ids, which the warehouse stores once).
Reactions come in `metadata.reactions`, else from `GET /api/v4/posts/{post_id}/reactions`. People are resolved
through the directory by user id, else by the e-mail `GET /api/v4/users/{user_id}` shows (the shared client
GETs only, so `POST /users/ids` is not used; each user is looked up once).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from learnstream.errors import ConfigError, ConnectorError
from producers.chat.mattermost import (
    MAPPING_ERRORS,
    MattermostChannel,
    MattermostScope,
    is_activity,
    post_activities,
    reactions_of,
)
from producers.contracts import Batch, CheckReport, Cursor, OutgoingRecord
from producers.dead_letters import source_dead_letter
from producers.http_client import SourceHttpClient
from producers.identity import IdentityResolver
from producers.pseudonymise import AccountIds
from schemas.activity import SourceSystem

logger = logging.getLogger(__name__)

#: The most posts one `since` answer holds; a full answer may have left posts out.
SINCE_LIMIT = 1000
MAX_PER_PAGE = 200
#: How far before the backfill began live reading starts: the server's clock may be behind ours.
CLOCK_MARGIN = timedelta(minutes=1)


class ChannelPosition(Cursor):
    """Where one channel resumes: live reading after `update_at` (ms) less the ids read at that millisecond, and,
    while `backfill_from` is set, the backfill page to read next (before post `backfill_before`, "" the newest)."""

    update_at: int
    ids_at: tuple[str, ...] = ()
    backfill_from: int | None = None
    backfill_before: str = ""
    backfill_page: int = 0
    backfill_seen: tuple[str, ...] = ()


class MattermostCursor(Cursor):
    """The position of every channel an instance reads (channels added later start from the configured start)."""

    channels: dict[str, ChannelPosition] = {}


def millis(moment: datetime) -> int:
    """An aware datetime as Unix milliseconds."""
    return int(moment.timestamp() * 1000)


def ordered_posts(document: Any, path: str) -> list[Any]:
    """The posts of a post list (`order` of ids into `posts`), in the list's order."""
    if not isinstance(document, dict) or not isinstance(document.get("order"), list):
        raise ConnectorError(f"Mattermost answered {path} with something other than a post list")
    posts = document.get("posts") or {}
    return [posts.get(post_id, {"id": post_id}) for post_id in document["order"]]


def update_key(post: Any) -> tuple[int, str] | None:
    """A post's place in modification order, (update_at, id); None if it has no readable ones."""
    if not isinstance(post, dict):
        return None
    update_at, post_id = post.get("update_at"), post.get("id")
    if isinstance(update_at, bool) or not isinstance(update_at, int) or not isinstance(post_id, str):
        return None
    return update_at, post_id


class MattermostPosts:
    """The posts of a list of channels of one Mattermost server, read through the REST API v4."""

    cursor_type = MattermostCursor

    def __init__(
        self,
        name: str,
        server: str,
        channels: Sequence[str],
        http: SourceHttpClient,
        resolver: IdentityResolver,
        account_id: AccountIds,
        *,
        batch_size: int = MAX_PER_PAGE,
        backfill_days: int = 0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not channels:
            raise ConfigError(f"{name}: name at least one channel id to read")
        if not 1 <= batch_size <= MAX_PER_PAGE:
            raise ConfigError(f"{name}: the batch size is the page size, from 1 to {MAX_PER_PAGE} (got {batch_size})")
        self.name = name
        self.server = server
        self.channels = tuple(channels)
        self.http = http
        self.resolver = resolver
        self.scope = MattermostScope(server, resolver, account_id, self.user_id_of)
        self.batch_size = batch_size
        self.backfill = timedelta(days=backfill_days)
        self.now = now
        self.usernames: dict[str, str] = {}
        self._looked_up: set[str] = set()
        self._channel_info: dict[str, MattermostChannel] = {}

    # -- the contract ------------------------------------------------------------------------------------------

    def start_cursor(self, since: datetime | None) -> MattermostCursor:
        """Every channel backfilled from `since` (None: the configured backfill, none if 0 days), then live."""
        return MattermostCursor(channels={channel: self.fresh_position(since) for channel in self.channels})

    def fresh_position(self, since: datetime | None) -> ChannelPosition:
        """A channel's start: live from a minute before now, after a backfill from `since` if there is one."""
        now = self.now()
        if since is None and self.backfill:
            since = now - self.backfill
        return ChannelPosition(
            update_at=millis(now - CLOCK_MARGIN), backfill_from=None if since is None else millis(since)
        )

    def check(self) -> CheckReport:
        """The token works, every channel is readable; how many authors of their latest posts the directory resolves."""
        me = self.get("users/me")
        checks = [f"token works for {me.get('username')!r} on {self.server}" if isinstance(me, dict) else "token works"]
        authors: set[str] = set()
        for channel_id in self.channels:
            channel = self.channel(channel_id)
            page = ordered_posts(self.get(f"channels/{channel_id}/posts", {"page": "0", "per_page": "60"}), "posts")
            posts = [post for post in page if isinstance(post, dict) and is_activity(post)]
            authors |= {post["user_id"] for post in posts if isinstance(post.get("user_id"), str)}
            checks.append(f"channel {channel.name or channel_id} ({channel.type}): {len(posts)} latest posts read")
        self.look_up(authors)
        unresolved = sum(not self.resolver.is_resolved(author) for author in authors)
        return CheckReport(checks, accounts_seen=len(authors), unresolved_accounts=unresolved)

    def read(self, cursor: MattermostCursor) -> Iterator[Batch[MattermostCursor]]:
        """Each channel in turn: its backfill pages while one is under way, then what changed since its position."""
        positions = {channel: cursor.channels.get(channel) or self.fresh_position(None) for channel in self.channels}
        for channel_id in self.channels:
            while positions[channel_id].backfill_from is not None:
                position, records, letters = self.backfill_page(channel_id, positions[channel_id])
                positions[channel_id] = position
                yield Batch(records, MattermostCursor(channels=dict(positions)), letters)
            for position, records, letters in self.changes(channel_id, positions[channel_id]):
                positions[channel_id] = position
                yield Batch(records, MattermostCursor(channels=dict(positions)), letters)

    # -- reading -----------------------------------------------------------------------------------------------

    def backfill_page(
        self, channel_id: str, position: ChannelPosition
    ) -> tuple[ChannelPosition, list[OutgoingRecord], list[OutgoingRecord]]:
        """One page of the backfill, newest first, and the position after it."""
        params = {"page": str(position.backfill_page), "per_page": str(self.batch_size)}
        if position.backfill_before:
            params["before"] = position.backfill_before
        posts = ordered_posts(self.get(f"channels/{channel_id}/posts", params), "posts")
        start = position.backfill_from or 0
        wanted = [
            post
            for post in posts
            if not (isinstance(post, dict) and post.get("id") in position.backfill_seen)
            and not (isinstance(post, dict) and isinstance(post.get("create_at"), int) and post["create_at"] < start)
        ]
        records, letters = self.map_posts(channel_id, wanted)
        created = [post.get("create_at") for post in posts if isinstance(post, dict)]
        times = [value for value in created if isinstance(value, int) and not isinstance(value, bool)]
        if len(posts) < self.batch_size or not times or min(times) < start:
            logger.info("%s: backfill of channel %s done", self.name, channel_id)
            return position.model_copy(update={"backfill_from": None, "backfill_seen": ()}), records, letters
        oldest = min(times)
        boundary = [post for post in posts if isinstance(post, dict) and post.get("create_at") == oldest]
        newer = [post for post in posts if isinstance(post, dict) and isinstance(post.get("create_at"), int)]
        newer = [post for post in newer if post["create_at"] > oldest]
        if newer:  # anchor just before the oldest millisecond's group, which the next page reads again
            anchor = min(newer, key=lambda post: post["create_at"])
            update = {"backfill_before": str(anchor["id"]), "backfill_page": 0}
            update["backfill_seen"] = tuple(str(post["id"]) for post in boundary)
        else:  # a whole page in one millisecond: page on from the same anchor
            seen = (*position.backfill_seen, *(str(post["id"]) for post in boundary))
            update = {"backfill_page": position.backfill_page + 1, "backfill_seen": seen}
        return position.model_copy(update=update), records, letters

    def changes(
        self, channel_id: str, position: ChannelPosition
    ) -> Iterator[tuple[ChannelPosition, list[OutgoingRecord], list[OutgoingRecord]]]:
        """What changed in a channel since its position, in batches in (update_at, id) order."""
        since = max(position.update_at - 1, 0)  # `since` is exclusive: ask from the position's own millisecond
        posts = ordered_posts(self.get(f"channels/{channel_id}/posts", {"since": str(since)}), "posts")
        if len(posts) >= SINCE_LIMIT:
            logger.warning(
                "%s: %d posts of channel %s changed since %d, the most one answer holds; backfilling from there",
                self.name,
                len(posts),
                channel_id,
                position.update_at,
            )
            restart = ChannelPosition(update_at=millis(self.now() - CLOCK_MARGIN), backfill_from=position.update_at)
            yield restart, [], []
            return
        unreadable = [post for post in posts if update_key(post) is None]
        if unreadable:
            letters = [self.dead_letter(post, "update_at or id missing or unreadable") for post in unreadable]
            yield position, [], letters
        keyed = sorted((key, post) for post in posts if (key := update_key(post)) is not None)
        fresh = [
            (key, post)
            for key, post in keyed
            if key[0] > position.update_at or (key[0] == position.update_at and key[1] not in position.ids_at)
        ]
        for start in range(0, len(fresh), self.batch_size):
            chunk = fresh[start : start + self.batch_size]
            for (update_at, post_id), _ in chunk:
                ids = position.ids_at if update_at == position.update_at else ()
                position = position.model_copy(update={"update_at": update_at, "ids_at": (*ids, post_id)})
            records, letters = self.map_posts(channel_id, [post for _, post in chunk])
            yield position, records, letters

    def map_posts(self, channel_id: str, posts: list[Any]) -> tuple[list[OutgoingRecord], list[OutgoingRecord]]:
        """Records for the posts' activities, dead letters for posts that cannot be mapped."""
        channel = self.channel(channel_id)
        usable = [post for post in posts if isinstance(post, dict) and is_activity(post)]
        people = {post["user_id"] for post in usable if isinstance(post.get("user_id"), str)}
        reactions: dict[int, list[Any]] = {}  # by position in `usable`: a post's id may be missing
        letters = [self.dead_letter(post, "a post is not an object") for post in posts if not isinstance(post, dict)]
        for index, post in enumerate(usable):
            try:
                given = reactions_of(post)
            except MAPPING_ERRORS:
                continue  # mapping the post sets it aside with the reason
            if given is None and isinstance(post.get("id"), str):
                given = self.reactions(post["id"])
            reactions[index] = given or []
            people |= {
                r["user_id"] for r in reactions[index] if isinstance(r, dict) and isinstance(r.get("user_id"), str)
            }
        self.look_up(people)
        records: list[OutgoingRecord] = []
        for index, post in enumerate(usable):
            try:
                activities = list(post_activities(post, channel, self.scope, reactions.get(index)))
            except MAPPING_ERRORS as exc:
                letters.append(self.dead_letter(post, f"{type(exc).__name__}: {exc}"))
                continue
            records += [OutgoingRecord(a.conversation_key.encode("utf-8"), a.to_bytes()) for a in activities]
        return records, letters

    def reactions(self, post_id: str) -> list[Any]:
        """The reactions of a post whose list carried none (`GET /posts/{post_id}/reactions`)."""
        answer = self.get(f"posts/{post_id}/reactions")
        return answer if isinstance(answer, list) else []

    def look_up(self, users: set[str]) -> None:
        """Learn the username and e-mail of each user not looked up yet whom the directory does not list."""
        for user_id in sorted(user for user in users - self._looked_up if user):
            self._looked_up.add(user_id)
            if self.resolver.directory.by_account(self.resolver.account_kind, user_id) is not None:
                continue
            try:
                user = self.get(f"users/{user_id}")
            except ConnectorError as exc:  # a removed account: it keeps a source-scoped pseudonym
                logger.warning("%s: cannot look up a user (%s)", self.name, exc)
                continue
            if not isinstance(user, dict):
                continue
            if isinstance(user.get("username"), str):
                self.usernames[user["username"].lower()] = user_id
            if isinstance(user.get("email"), str) and user["email"]:  # blank unless the token may see e-mails
                self.resolver.emails[user_id] = user["email"]

    def user_id_of(self, username: str) -> str | None:
        """The user id of a username seen in a lookup (for mentions in text)."""
        return self.usernames.get(username.lower())

    def channel(self, channel_id: str) -> MattermostChannel:
        """A channel's name and type (`GET /channels/{channel_id}`), asked once."""
        known = self._channel_info.get(channel_id)
        if known is None:
            answer = self.get(f"channels/{channel_id}")
            if not isinstance(answer, dict):
                raise ConnectorError(f"{self.name}: Mattermost answered channels/{channel_id} with no channel")
            name = answer.get("name") if isinstance(answer.get("name"), str) else None
            kind = answer.get("type") if isinstance(answer.get("type"), str) else None
            known = self._channel_info[channel_id] = MattermostChannel(channel_id, name, kind)
        return known

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """One API request through the shared client (retries, 429 and Retry-After, status mapping)."""
        return self.http.get_json(path, params)

    def dead_letter(self, original: Any, detail: str) -> OutgoingRecord:
        """The dead letter for a post this source cannot use."""
        data = json.dumps(original, ensure_ascii=False).encode("utf-8")
        return source_dead_letter(SourceSystem.MATTERMOST, self.server, detail, data, self.now())
