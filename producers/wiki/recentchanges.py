"""A MediaWiki wiki as a pull source: `list=recentchanges` polled oldest first, with older history backfilled
through `list=allrevisions`.

Recent changes reach only `$wgRCMaxAge` back (90 days on Wikimedia wikis). A start older than that reads
revisions first, up to a horizon a day inside the recent-changes window, then switches to recent changes from
that horizon on: the two phases meet without a gap or an overlap, and a revision has the native id
`rev/<revid>` in both. The cursor names its phase and the last (timestamp, id) read, in the API's own order of
enumeration (timestamp, then rcid or revid): a restart asks again from that timestamp and skips what it has.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Literal, Protocol

from pydantic import AwareDatetime, ValidationError

from learnstream.errors import ConfigError, ConnectorError
from producers.contracts import Batch, CheckReport, Cursor, OutgoingRecord
from producers.dead_letters import source_dead_letter
from producers.http_client import SourceHttpClient
from producers.wiki.mediawiki import (
    UnusableChange,
    activity_from_api_change,
    activity_from_api_revision,
    api_timestamp,
    is_int,
)
from schemas.activity import Activity, SourceSystem

logger = logging.getLogger(__name__)

Phase = Literal["allrevisions", "recentchanges"]
CHANGE_TYPES = ("edit", "new")
RC_PROPS = "title|timestamp|ids|user|flags|sizes|comment"
ARV_PROPS = "ids|timestamp|flags|comment|user|size"
#: The backfill hands over this far inside the recent-changes window, so the window has not moved past the
#: hand-over point by the time recent changes are read (the purge of old rows runs only now and then).
HORIZON_MARGIN = timedelta(days=1)
USERS_PER_REQUEST = 50  # the API's limit on `ususers` for clients without the apihighlimits right
Key = tuple[datetime, int]


class WikiChangesCursor(Cursor):
    """Where a wiki source resumes: its phase and the last (timestamp, id) it read; `last_id` is an rcid in the
    recentchanges phase and a revid in the allrevisions phase (0: nothing at `timestamp` read yet)."""

    phase: Phase = "recentchanges"
    timestamp: AwareDatetime
    last_id: int = 0

    @property
    def key(self) -> Key:
        """The position in the API's order of enumeration."""
        return (self.timestamp, self.last_id)


class ResolvingPseudonymiser(Protocol):
    """A pseudonymiser that can also say whether an account belongs to a person of the directory."""

    def __call__(self, account: str) -> str: ...

    def is_resolved(self, account: str) -> bool: ...


class RecentChangesSource:
    """Changes of one wiki through its Action API: edits and page creations of the wanted namespaces."""

    cursor_type = WikiChangesCursor

    def __init__(
        self,
        name: str,
        api_url: str,
        server_name: str,
        http: SourceHttpClient,
        resolver: ResolvingPseudonymiser,
        *,
        namespaces: Sequence[int] | None = None,
        types: Sequence[str] = CHANGE_TYPES,
        exclude_bots: bool = False,
        batch_size: int = 500,
        recentchanges_max_age_days: int = 90,
        backfill_days: int = 0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        unknown = sorted(set(types) - set(CHANGE_TYPES))
        if unknown or not types:
            raise ConfigError(f"{name}: change types must be among {', '.join(CHANGE_TYPES)}, not {unknown or 'none'}")
        if not 1 <= batch_size <= 500:
            raise ConfigError(f"{name}: the batch size is the API's page size, from 1 to 500 (got {batch_size})")
        self.name = name
        self.api_url = api_url
        self.server_name = server_name
        self.http = http
        self.resolver = resolver
        self.namespaces = None if namespaces is None else tuple(namespaces)
        self.types = tuple(types)
        self.exclude_bots = exclude_bots
        self.batch_size = batch_size
        self.max_age = timedelta(days=recentchanges_max_age_days)
        self.backfill = timedelta(days=backfill_days)
        self.now = now

    def start_cursor(self, since: datetime | None) -> WikiChangesCursor:
        """From `since` (through the revision backfill when recent changes no longer reach it); None: the
        configured backfill window back from now (0 days: from now)."""
        now = whole_second(self.now())
        if since is None:
            if not self.backfill:
                return WikiChangesCursor(timestamp=now)
            since = now - self.backfill
        since = whole_second(since)
        phase: Phase = "allrevisions" if since < self.horizon(now) else "recentchanges"
        return WikiChangesCursor(phase=phase, timestamp=since)

    def horizon(self, now: datetime) -> datetime:
        """Where the backfill hands over to recent changes."""
        return whole_second(now - self.max_age + HORIZON_MARGIN)

    def check(self) -> CheckReport:
        """The API answers for the configured wiki; how many editors of its latest changes the directory resolves."""
        general = self.query({"meta": "siteinfo", "siprop": "general"}).get("query", {}).get("general", {})
        servername = general.get("servername")
        if servername != self.server_name:
            raise ConfigError(
                f"{self.name}: {self.api_url} answers for {servername!r}, not {self.server_name!r}; check the API "
                "URL and the server name configured for it"
            )
        latest = self.query({**self.change_params(), "rcdir": "older", "rclimit": str(self.batch_size)})
        users = {row["user"] for row in rows_of(latest, "recentchanges") if isinstance(row.get("user"), str)}
        unresolved = sum(not self.resolver.is_resolved(user) for user in users)
        checks = [
            f"{self.api_url}: {general.get('sitename')} ({servername}), {general.get('generator')}",
            f"latest changes: {len(users)} editors in one page of {self.batch_size}",
        ]
        return CheckReport(checks, accounts_seen=len(users), unresolved_accounts=unresolved)

    def read(self, cursor: WikiChangesCursor) -> Iterator[Batch[WikiChangesCursor]]:
        """Batches of one API page each, after the cursor, until caught up with the wiki."""
        now = self.now()
        if cursor.phase == "recentchanges" and cursor.timestamp < now - self.max_age:
            logger.warning(
                "%s: the cursor (%s) is older than recent changes reach; backfilling through revisions",
                self.name,
                cursor.timestamp.isoformat(),
            )
            cursor = WikiChangesCursor(phase="allrevisions", timestamp=cursor.timestamp)
        if cursor.phase == "allrevisions":
            horizon = self.horizon(now)
            cursor = yield from self.read_revisions(cursor, horizon)
            cursor = WikiChangesCursor(phase="recentchanges", timestamp=max(horizon, cursor.timestamp))
            logger.info("%s: revision backfill done; recent changes from %s", self.name, cursor.timestamp.isoformat())
            yield Batch([], cursor)
        yield from self.read_changes(cursor)

    def read_changes(self, cursor: WikiChangesCursor) -> Iterator[Batch[WikiChangesCursor]]:
        """The recentchanges phase: pages of changes from the cursor's timestamp, oldest first."""
        params = {**self.change_params(), "rcdir": "newer", "rcstart": iso(cursor.timestamp)}
        for document in self.pages(params):
            records: list[OutgoingRecord] = []
            letters: list[OutgoingRecord] = []
            for row in rows_of(document, "recentchanges"):
                key = position(row, "rcid")
                if key is None:
                    letters.append(self.dead_letter(row, "timestamp or rcid missing or unreadable"))
                    continue
                if key <= cursor.key:
                    continue  # read before the restart
                cursor = WikiChangesCursor(phase="recentchanges", timestamp=key[0], last_id=key[1])
                if not self.wanted(row.get("ns"), row.get("type"), row.get("bot") is True):
                    continue
                self.map_into(records, letters, row, partial(activity_from_api_change, row, *self.mapping()))
            cursor = self.past_continue(cursor, document, "rccontinue")
            yield Batch(records, cursor, letters)

    def read_revisions(
        self, cursor: WikiChangesCursor, horizon: datetime
    ) -> Generator[Batch[WikiChangesCursor], None, WikiChangesCursor]:
        """The allrevisions phase: revisions from the cursor's timestamp to just before `horizon`; returns the
        last cursor. The API groups a page's revisions under the page, so each answer is put back in order."""
        params = {
            **self.base_params(),
            "list": "allrevisions",
            "arvprop": ARV_PROPS,
            "arvdir": "newer",
            "arvstart": iso(cursor.timestamp),
            "arvend": iso(horizon - timedelta(seconds=1)),
            "arvlimit": str(self.batch_size),
        }
        if self.namespaces is not None:
            params["arvnamespace"] = "|".join(str(namespace) for namespace in self.namespaces)
        for document in self.pages(params):
            records: list[OutgoingRecord] = []
            letters: list[OutgoingRecord] = []
            ordered: list[tuple[Key, dict[str, Any], dict[str, Any]]] = []
            for page in rows_of(document, "allrevisions"):
                for revision in page.get("revisions") or []:
                    single = {**page, "revisions": [revision]}
                    key = position(revision, "revid") if isinstance(revision, dict) else None
                    if key is None:
                        letters.append(self.dead_letter(single, "timestamp or revid missing or unreadable"))
                    else:
                        ordered.append((key, page, revision))
            ordered.sort(key=lambda item: item[0])
            bots = self.bot_users({r["user"] for _, _, r in ordered if isinstance(r.get("user"), str)})
            for key, page, revision in ordered:
                if key <= cursor.key:
                    continue
                cursor = WikiChangesCursor(phase="allrevisions", timestamp=key[0], last_id=key[1])
                created = revision.get("parentid") == 0
                bot = revision.get("user") in bots
                if not self.wanted(page.get("ns"), "new" if created else "edit", bot):
                    continue
                mapping = partial(activity_from_api_revision, page, revision, *self.mapping(), bot=bot)
                self.map_into(records, letters, {**page, "revisions": [revision]}, mapping)
            cursor = self.past_continue(cursor, document, "arvcontinue")
            yield Batch(records, cursor, letters)
        return cursor

    def wanted(self, namespace: object, change_type: object, bot: bool) -> bool:
        """Whether a change passes the configured filters (the API filters too; miser mode lets some through)."""
        if self.namespaces is not None and namespace not in self.namespaces:
            return False
        return change_type in self.types and not (bot and self.exclude_bots)

    def map_into(
        self,
        records: list[OutgoingRecord],
        letters: list[OutgoingRecord],
        original: Mapping[str, Any],
        mapping: Callable[[], Activity | None],
    ) -> None:
        """Map one record: an activity becomes a record, an unusable record a dead letter with its reason."""
        try:
            activity = mapping()
        except UnusableChange as exc:
            letters.append(self.dead_letter(original, str(exc)))
            return
        except ValidationError as exc:
            letters.append(self.dead_letter(original, f"not a valid activity: {exc.errors()[0]['msg']}"))
            return
        if activity is not None:
            records.append(OutgoingRecord(activity.conversation_key.encode("utf-8"), activity.to_bytes()))

    def mapping(self) -> tuple[str, ResolvingPseudonymiser]:
        """The mappers' arguments after the record: the source instance and the pseudonymiser."""
        return self.server_name, self.resolver

    def dead_letter(self, original: Mapping[str, Any], detail: str) -> OutgoingRecord:
        """The dead letter for a record of the API this source cannot use."""
        data = json.dumps(original, ensure_ascii=False).encode("utf-8")
        return source_dead_letter(SourceSystem.MEDIAWIKI, self.server_name, detail, data, self.now())

    def bot_users(self, users: set[str]) -> set[str]:
        """Which of these users are in the `bot` group (revisions carry no bot flag; recent changes do)."""
        names = sorted(users)
        bots: set[str] = set()
        for start in range(0, len(names), USERS_PER_REQUEST):
            chunk = names[start : start + USERS_PER_REQUEST]
            document = self.query({"list": "users", "ususers": "|".join(chunk), "usprop": "groups"})
            for user in rows_of(document, "users"):
                if "bot" in (user.get("groups") or []) and isinstance(user.get("name"), str):
                    bots.add(user["name"])
        return bots

    def change_params(self) -> dict[str, str]:
        """The recentchanges parameters every request sends: the props, types and filters configured."""
        params = {
            **self.base_params(),
            "list": "recentchanges",
            "rcprop": RC_PROPS,
            "rctype": "|".join(self.types),
            "rclimit": str(self.batch_size),
        }
        if self.namespaces is not None:
            params["rcnamespace"] = "|".join(str(namespace) for namespace in self.namespaces)
        if self.exclude_bots:
            params["rcshow"] = "!bot"
        return params

    def base_params(self) -> dict[str, str]:
        """What every request to the Action API sends."""
        return {"action": "query", "format": "json", "formatversion": "2"}

    def query(self, params: Mapping[str, str]) -> dict[str, Any]:
        """One API request; an API error (answered with status 200) is a ConnectorError naming its code."""
        document = self.http.get_json(self.api_url, {**self.base_params(), **params})
        if not isinstance(document, dict):
            raise ConnectorError(f"{self.name}: {self.api_url} answered with JSON that is not an object")
        error = document.get("error")
        if isinstance(error, dict):
            raise ConnectorError(
                f"{self.name}: {self.api_url} refused the request ({error.get('code')}: {error.get('info')}); "
                "check the wiki's API version and the source's configuration"
            )
        if "warnings" in document:
            logger.warning("%s: the API warns: %s", self.name, str(document["warnings"])[:300])
        return document

    def pages(self, params: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        """Every page of a list query, sending back each key of `continue` with the original parameters."""
        request = dict(params)
        while True:
            document = self.query(request)
            yield document
            continuation = document.get("continue")
            if not isinstance(continuation, dict):
                return
            request = {**params, **{str(name): str(value) for name, value in continuation.items()}}

    def past_continue(self, cursor: WikiChangesCursor, document: Mapping[str, Any], token: str) -> WikiChangesCursor:
        """The cursor moved up to just before the continuation point (`timestamp|id`, the next row to read), so
        that rows the API read but did not return (filtered in miser mode) are not asked for again."""
        continuation = document.get("continue")
        value = continuation.get(token) if isinstance(continuation, dict) else None
        point = continuation_point(value) if isinstance(value, str) else None
        if point is None:
            return cursor
        before = (point[0], point[1] - 1)
        if before <= cursor.key:
            return cursor
        return WikiChangesCursor(phase=cursor.phase, timestamp=before[0], last_id=before[1])


def rows_of(document: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    """The rows of `query.<name>` that are objects (others are ignored, there being nothing to map)."""
    query = document.get("query")
    rows = query.get(name) if isinstance(query, dict) else None
    return [row for row in rows or [] if isinstance(row, dict)]


def position(record: Mapping[str, Any], id_field: str) -> Key | None:
    """A record's place in the order of enumeration: (timestamp, rcid or revid); None if unreadable."""
    stamp, identifier = record.get("timestamp"), record.get(id_field)
    if not isinstance(stamp, str) or not is_int(identifier):
        return None
    try:
        return (api_timestamp(stamp), identifier)
    except UnusableChange:
        return None


def continuation_point(token: str) -> Key | None:
    """The (timestamp, id) of a `timestamp|id` continuation token, the timestamp as MediaWiki's database keeps
    it (`20230729120000` on MySQL, `2023-07-29 12:00:00+00` on PostgreSQL); None if it cannot be read."""
    stamp, _, identifier = token.partition("|")
    if not identifier.isdigit():
        return None
    try:
        if len(stamp) == 14 and stamp.isdigit():
            moment = datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return (moment.astimezone(UTC), int(identifier))


def iso(moment: datetime) -> str:
    """A timestamp parameter as the API takes it: `2023-07-29T12:00:00Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def whole_second(moment: datetime) -> datetime:
    """A time in UTC without its fraction: the API's timestamps are whole seconds."""
    return moment.astimezone(UTC).replace(microsecond=0)
