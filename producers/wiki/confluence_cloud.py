"""A Confluence Cloud site as a pull source: CQL `lastmodified` windows over the configured spaces, oldest first.

Each read searches `/wiki/rest/api/content/search` for `type in (page, comment) and space in (...) and
lastmodified >= "<yyyy-MM-dd HH:mm>" order by lastmodified`, following the `_links.next` cursor the API
gives. CQL compares minutes, in the site's default time zone, and the search index lags behind writes, so a
read starts `overlap_minutes` before the minute of the last change read and skips what the cursor says it has
seen: the (content, version) pairs read since that point.

A search hit is content as it is now: a page edited twice between two reads is one hit at its latest version,
so the page's versions are listed (`/content/{id}/version`, newest first) down to the read's lower bound,
`window_start`. That bound stays where the read began until the read has caught up, so a read killed half-way
and restarted still lists every version the first attempt had not reached.

Search does not return trashed content, so each read ends by listing the trash of each space
(`/wiki/rest/api/content?spaceKey=&type=page&status=trashed`, paged by `_links.next`): a trashed page not
reported before is a removal (`page/<id>/deleted`), and the cursor remembers the ids of the pages in the trash,
forgetting those that left it (restored, purged, or emptied with the trash after 30 days). The API keeps no
record of when a page was trashed: its last version's author and time stand for the removal's.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from pydantic import AwareDatetime, ValidationError

from learnstream.errors import ConfigError, ConnectorError
from producers.contracts import Batch, CheckReport, Cursor, OutgoingRecord
from producers.dead_letters import source_dead_letter
from producers.http_client import CredentialsRefused, SourceHttpClient
from producers.identity import IdentityResolver
from producers.wiki.confluence import (
    REMOVED_STATUSES,
    UnusableContent,
    comment_activity,
    describe,
    page_version_activity,
    removal_activity,
    rest_comment,
    rest_page_version,
    rest_removal,
    rest_time,
)
from schemas.activity import Activity, SourceSystem

logger = logging.getLogger(__name__)

API = "/wiki/rest/api"
EXPAND = "space,version,history,container,ancestors"
TRASH_EXPAND = "version,space,history"
VERSIONS_PER_REQUEST = 100
CQL_MINUTE = "%Y-%m-%d %H:%M"


class ConfluenceCursor(Cursor):
    """Where a Confluence poll resumes: the minute of the last change read (`since`), the lower bound of the
    read in progress (`window_start`), and what was read from `since` minus the overlap on: each native id
    produced and each search hit (`hit:page/<id>/v/<n>`) -> its time, so nothing at the boundary is produced
    twice. `trashed`: the ids of the pages in the trash when it was last listed, each reported once (None: the
    trash was never listed)."""

    since: AwareDatetime
    window_start: AwareDatetime
    seen: dict[str, AwareDatetime] = {}
    trashed: list[str] | None = None


def basic_auth(email: str, api_token: str) -> dict[str, str]:
    """The Authorization header of an Atlassian API token (Basic, `email:token`)."""
    pair = base64.b64encode(f"{email}:{api_token}".encode()).decode("ascii")
    return {"Authorization": f"Basic {pair}", "Accept": "application/json"}


def cql_for(spaces: Sequence[str], since: datetime, zone: tzinfo, order: str = "asc") -> str:
    """The CQL of a window: pages and comments of the spaces modified from `since`'s minute (in `zone`) on."""
    keys = ", ".join(json.dumps(key) for key in spaces)
    minute = since.astimezone(zone).strftime(CQL_MINUTE)
    return f'type in (page, comment) and space in ({keys}) and lastmodified >= "{minute}" order by lastmodified {order}'


def minute_of(moment: datetime) -> datetime:
    """The start of a moment's minute, in UTC."""
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


class ConfluencePolling:
    """Pages (every version) and comments of the configured spaces of one Confluence Cloud site."""

    cursor_type = ConfluenceCursor

    def __init__(
        self,
        name: str,
        site: str,
        http: SourceHttpClient,
        resolver: IdentityResolver,
        spaces: Sequence[str],
        *,
        overlap_minutes: int = 2,
        batch_size: int = 50,
        backfill_days: int = 30,
        time_zone: tzinfo = UTC,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not spaces:
            raise ConfigError(f"{name}: name the spaces to read (spaces = [...])")
        self.name = name
        self.site = site
        self.http = http
        self.resolver = resolver
        self.spaces = tuple(spaces)
        self.overlap = timedelta(minutes=overlap_minutes)
        self.batch_size = batch_size
        self.backfill = timedelta(days=backfill_days)
        self.time_zone = time_zone
        self.now = now

    def start_cursor(self, since: datetime | None) -> ConfluenceCursor:
        """From `since`; None: the configured backfill back from now (0 days: from now)."""
        start = minute_of(since if since is not None else self.now() - self.backfill)
        return ConfluenceCursor(since=start, window_start=start)

    def check(self) -> CheckReport:
        """The token works, the spaces exist, and how many authors of the latest changes the directory resolves."""
        user = self.get(f"{API}/user/current")
        found = self.get(f"{API}/space", {"spaceKey": list(self.spaces), "limit": len(self.spaces)})
        keys = {space.get("key") for space in results_of(found)}
        missing = sorted(set(self.spaces) - keys)
        if missing:
            raise ConfigError(
                f"{self.name}: {self.site} has no space {', '.join(missing)} that the API token's account can see; "
                "check the space keys and the account's space permissions"
            )
        cql = cql_for(self.spaces, self.now() - timedelta(days=30), self.time_zone, "desc")
        latest = self.get(f"{API}/content/search", {"cql": cql, "limit": self.batch_size, "expand": EXPAND})
        accounts: set[str] = set()
        for content in results_of(latest):
            for person in (dig(content, "version", "by"), dig(content, "history", "createdBy")):
                account = self.learn(person)
                if account:
                    accounts.add(account)
        unresolved = sum(not self.resolver.is_resolved(account) for account in accounts)
        checks = [
            f"{self.site}: the API token signs in ({user.get('type') or 'unknown'} account)",
            f"spaces {', '.join(self.spaces)} found",
            f"latest changes: {len(accounts)} authors in one page of {self.batch_size}",
            self.check_trash(),
        ]
        return CheckReport(checks, accounts_seen=len(accounts), unresolved_accounts=unresolved)

    def check_trash(self) -> str:
        """Whether the account may list the trash of each space (trashed pages are reported from it)."""
        refused = []
        for space in self.spaces:
            try:
                self.get(f"{API}/content", {"spaceKey": space, "type": "page", "status": "trashed", "limit": 1})
            except CredentialsRefused:
                refused.append(space)
        if refused:
            return (
                f"the trash of {', '.join(refused)} cannot be listed (refused): its trashed pages are not reported; "
                "let the account see the space's trash to report them"
            )
        return "the trash of each space can be listed: trashed pages are reported"

    def read(self, cursor: ConfluenceCursor) -> Iterator[Batch[ConfluenceCursor]]:
        """One batch per page of search results after the cursor, then one of the pages trashed since the trash
        was last listed, which closes the read."""
        caught_up = yield from self.read_changes(cursor)
        yield self.read_trash(caught_up, cursor.window_start)

    def read_changes(self, cursor: ConfluenceCursor) -> Generator[Batch[ConfluenceCursor], None, ConfluenceCursor]:
        """One batch per page of search results after the cursor; returns the cursor of the caught-up read."""
        lower = cursor.window_start
        start = cursor.since - self.overlap
        params: Mapping[str, Any] | None = {
            "cql": cql_for(self.spaces, start, self.time_zone),
            "limit": self.batch_size,
            "expand": EXPAND,
        }
        path = f"{API}/content/search"
        while True:
            document = self.get(path, params)
            records: list[OutgoingRecord] = []
            letters: list[OutgoingRecord] = []
            seen = dict(cursor.seen)
            latest = cursor.since
            for content in results_of(document):
                when = self.hit_time(content)
                hit = hit_key(content)
                if when is None or hit is None:
                    letters.append(self.dead_letter(content, "id, type or version.when missing or unreadable"))
                    continue
                latest = max(latest, minute_of(when))
                if hit in seen:
                    continue  # read before (the overlap, or a restart)
                seen[hit] = when
                self.map_hit(content, lower, seen, records, letters)
            since = latest
            cursor = ConfluenceCursor(
                since=since, window_start=lower, seen=prune(seen, since - self.overlap), trashed=cursor.trashed
            )
            following = next_link(document)
            if following is None:
                break
            yield Batch(records, cursor, letters)
            path, params = following, None
        # caught up: the next read lists versions from its own search start on
        done_from = cursor.since - self.overlap
        caught_up = ConfluenceCursor(
            since=cursor.since, window_start=done_from, seen=prune(cursor.seen, done_from), trashed=cursor.trashed
        )
        yield Batch(records, caught_up, letters)
        return caught_up

    def read_trash(self, cursor: ConfluenceCursor, lower: datetime) -> Batch[ConfluenceCursor]:
        """The removals of the trashed pages of the spaces not reported before, and the cursor remembering the trash
        as it is now. The first listing reports only the pages whose last version is from `lower` (the first read's
        start) on: the others were trashed before the read's window, as far as the API tells. A space whose trash
        the account may not list (403) is left, and what was remembered is kept."""
        reported = set(cursor.trashed or ())
        not_before = lower if cursor.trashed is None else None
        in_trash: set[str] = set()
        complete = True
        records: list[OutgoingRecord] = []
        letters: list[OutgoingRecord] = []
        for space in self.spaces:
            try:
                pages = list(self.trashed_pages(space))
            except CredentialsRefused as exc:
                logger.warning("%s: cannot list the trash of space %s (%s); left this round", self.name, space, exc)
                complete = False
                continue
            for content in pages:
                identifier = content.get("id")
                if not isinstance(identifier, str | int) or not str(identifier):
                    logger.warning("%s: a trashed page of space %s has no id; left", self.name, space)
                    continue
                in_trash.add(str(identifier))
                if str(identifier) not in reported:
                    self.map_trashed(content, not_before, records, letters)
        remembered = ConfluenceCursor(
            since=cursor.since,
            window_start=cursor.window_start,
            seen=cursor.seen,
            trashed=sorted(in_trash if complete else in_trash | reported),
        )
        return Batch(records, remembered, letters)

    def trashed_pages(self, space: str) -> Iterator[dict[str, Any]]:
        """The pages in the trash of a space (search leaves them out), page by page of the content listing."""
        path = f"{API}/content"
        params: Mapping[str, Any] | None = {
            "spaceKey": space,
            "type": "page",
            "status": "trashed",
            "expand": TRASH_EXPAND,
            "limit": self.batch_size,
        }
        while True:
            document = self.get(path, params)
            yield from results_of(document)
            following = next_link(document)
            if following is None:
                return
            path, params = following, None

    def map_trashed(
        self,
        content: Mapping[str, Any],
        not_before: datetime | None,
        records: list[OutgoingRecord],
        letters: list[OutgoingRecord],
    ) -> None:
        """The removal of a trashed page (none if its last version is before `not_before`), or its dead letter."""
        self.learn(dig(content, "version", "by"))
        try:
            removal = rest_removal(content)
            if not_before is not None and removal.when < not_before:
                return
            activity = removal_activity(removal, self.site, self.resolver)
        except UnusableContent as exc:
            letters.append(self.dead_letter(content, f"trashed page: {exc}"))
            return
        except ValidationError as exc:
            letters.append(self.dead_letter(content, f"trashed page: not a valid activity: {exc.errors()[0]['msg']}"))
            return
        records.append(OutgoingRecord(activity.conversation_key.encode("utf-8"), activity.to_bytes()))

    def map_hit(
        self,
        content: Mapping[str, Any],
        lower: datetime,
        seen: dict[str, datetime],
        records: list[OutgoingRecord],
        letters: list[OutgoingRecord],
    ) -> None:
        """The activities of one search hit not read before: new page versions, a new comment, a removal."""
        try:
            for activity in self.activities_of(content, lower, seen):
                records.append(OutgoingRecord(activity.conversation_key.encode("utf-8"), activity.to_bytes()))
        except UnusableContent as exc:
            letters.append(self.dead_letter(content, str(exc)))
        except ValidationError as exc:
            letters.append(self.dead_letter(content, f"not a valid activity: {exc.errors()[0]['msg']}"))

    def activities_of(
        self, content: Mapping[str, Any], lower: datetime, seen: dict[str, datetime]
    ) -> Iterator[Activity]:
        """The hit's activities from `lower` on whose native ids are not in `seen` (and records them there)."""
        if content.get("status") in REMOVED_STATUSES:
            removal = rest_removal(content)
            if fresh(f"{removal.content_type}/{removal.content_id}/deleted", removal.when, seen):
                yield removal_activity(removal, self.site, self.resolver)
            return
        if content.get("type") == "comment":
            self.learn(dig(content, "history", "createdBy"))
            comment = rest_comment(content)
            if comment.created >= lower and fresh(f"comment/{comment.comment_id}/v/1", comment.created, seen):
                yield comment_activity(comment, self.site, self.resolver)
            return
        if content.get("type") != "page":
            raise UnusableContent(f"type is {describe(content.get('type'))}, expected page or comment")
        current = content.get("version")
        if not isinstance(current, Mapping):
            raise UnusableContent("version is missing")
        for version in self.versions_since(content, current, lower):
            self.learn(version.get("by"))
            page_version = rest_page_version(content, version)
            if fresh(f"page/{page_version.page_id}/v/{page_version.number}", page_version.when, seen):
                yield page_version_activity(page_version, self.site, self.resolver)

    def versions_since(
        self, page: Mapping[str, Any], current: Mapping[str, Any], lower: datetime
    ) -> list[Mapping[str, Any]]:
        """The page's versions up to the hit's, made at or after `lower`, oldest first. A first version needs no
        request: the hit is it."""
        number = current.get("number")
        if number == 1:
            return [current]
        versions: list[Mapping[str, Any]] = []
        params: Mapping[str, Any] | None = {"limit": VERSIONS_PER_REQUEST}
        path = f"{API}/content/{page.get('id')}/version"
        while True:
            document = self.get(path, params)
            for version in results_of(document):
                when = version.get("when")
                if not isinstance(when, str):
                    raise UnusableContent(f"version {version.get('number')} has no `when`")
                if rest_time(when) < lower:
                    return sorted(versions, key=version_order)
                if isinstance(number, int) and isinstance(version.get("number"), int) and version["number"] > number:
                    continue  # newer than the hit: read with its own hit
                versions.append(version)
            following = next_link(document)
            if following is None:
                return sorted(versions, key=version_order)
            path, params = following, None

    def hit_time(self, content: Mapping[str, Any]) -> datetime | None:
        """When a hit was last modified: its current version's time."""
        when = dig(content, "version", "when")
        if not isinstance(when, str):
            return None
        try:
            return rest_time(when)
        except UnusableContent:
            return None

    def learn(self, user: object) -> str | None:
        """The account id of a user object; its e-mail address, where the user's profile shows it, goes to the
        resolver, which resolves the account by it when HR did not list the account."""
        if not isinstance(user, Mapping) or not isinstance(user.get("accountId"), str):
            return None
        account = str(user["accountId"])
        email = user.get("email")
        if isinstance(email, str) and email:
            self.resolver.emails.setdefault(account, email)
        return account

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One API request, whose answer must be a JSON object."""
        document = self.http.get_json(path, params)
        if not isinstance(document, dict):
            raise ConnectorError(f"{self.name}: {self.site} answered {path} with JSON that is not an object")
        return document

    def dead_letter(self, original: Mapping[str, Any], detail: str) -> OutgoingRecord:
        """The dead letter for content this source cannot use."""
        data = json.dumps(original, ensure_ascii=False).encode("utf-8")
        return source_dead_letter(SourceSystem.CONFLUENCE, self.site, detail, data, self.now())


def results_of(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The `results` of a list answer that are objects."""
    return [item for item in document.get("results") or [] if isinstance(item, dict)]


def next_link(document: Mapping[str, Any]) -> str | None:
    """The path of the next page (`_links.context` + `_links.next`), None on the last page."""
    links = document.get("_links")
    if not isinstance(links, Mapping) or not isinstance(links.get("next"), str) or not links["next"]:
        return None
    following = str(links["next"])
    if following.startswith("/wiki/"):
        return following
    context = links.get("context") if isinstance(links.get("context"), str) else "/wiki"
    return f"{context}{following}"


def hit_key(content: Mapping[str, Any]) -> str | None:
    """A search hit's identity: content type, id and current version (`hit:page/123/v/4`), apart from the native
    ids of what it produced."""
    number = dig(content, "version", "number")
    kind, identifier = content.get("type"), content.get("id")
    if not isinstance(number, int) or not isinstance(kind, str) or not isinstance(identifier, str | int):
        return None
    return f"hit:{kind}/{identifier}/v/{number}"


def fresh(native_id: str, when: datetime, seen: dict[str, datetime]) -> bool:
    """Whether an activity was not produced yet within the overlap; it counts as produced from now on."""
    if native_id in seen:
        return False
    seen[native_id] = when
    return True


def prune(seen: Mapping[str, datetime], before: datetime) -> dict[str, datetime]:
    """What the cursor must still remember: entries from `before` on (older ones no read asks for again)."""
    return {key: when for key, when in seen.items() if when >= before}


def dig(record: Mapping[str, Any], *names: str) -> Any:
    """A nested field, None if any step is missing or not an object."""
    value: Any = record
    for name in names:
        if not isinstance(value, Mapping):
            return None
        value = value.get(name)
    return value


def version_order(version: Mapping[str, Any]) -> int:
    """Versions by number."""
    number = version.get("number")
    return number if isinstance(number, int) else 0
