"""A local MediaWiki that plays the real Action API and Wikimedia EventStreams, for tests and simulations.

It holds an append-able list of changes and answers, in the wire formats of the real services:

- `GET /w/api.php?action=query&list=recentchanges` (`format=json&formatversion=2`): rcstart, rcend, rcdir,
  rcnamespace, rctype, rcshow, rclimit, rcprop, rccontinue (`timestamp|rcid`, inclusive). Only changes younger
  than `rc_max_age_days` are listed, as `$wgRCMaxAge` purges older ones.
- `list=allrevisions`: arvstart, arvend, arvdir, arvnamespace, arvlimit, arvprop, arvcontinue (`timestamp|revid`).
  Revisions are grouped under their page in the order pages first appear, and in miser mode (as on Wikimedia
  wikis) the namespace filter is applied after the limit, so a page of results may be short or even empty.
- `list=users&usprop=groups` (bot users are in the `bot` group) and `meta=siteinfo` (general).
- `GET /v2/stream/recentchange`: server-sent events, one `message` per change with a Kafka-style `id`; resumes
  after the `Last-Event-ID` header, else from the `since` parameter, and stays open until the server stops
  (chunked, so a proper end differs from a dropped connection: see `close_streams`).

API errors are answered as MediaWiki does: status 200, an `error` object and a `MediaWiki-API-Error` header.
`fail_next` makes the next requests fail with a status (429 with Retry-After), and `requests` records what arrived.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from simulator.local_server import Failure, JsonHandler, LocalServer
from simulator.mediawiki_wire import (
    ARV_DEFAULT_PROPS,
    RC_DEFAULT_PROPS,
    STREAM_TOPIC,
    ApiError,
    WikiChange,
    after_continue,
    direction,
    in_range,
    mw_timestamp,
    parse_limit,
    parse_timestamp,
    render_change,
    render_revision,
    show_flag,
    split,
    stream_event,
)

API_PATH = "/w/api.php"
STREAM_PATH = "/v2/stream/recentchange"


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received: method, path with query, headers (names lower-cased)."""

    method: str
    target: str
    headers: Mapping[str, str]

    @property
    def path(self) -> str:
        """The path without the query."""
        return urlsplit(self.target).path

    @property
    def params(self) -> dict[str, str]:
        """The query parameters (the last value of each)."""
        return {name: values[-1] for name, values in parse_qs(urlsplit(self.target).query).items()}


class StreamDropped(Exception):
    """An event stream is to end without its closing chunk."""


class MediaWikiApi(LocalServer):
    """A local MediaWiki (Action API and EventStreams) on 127.0.0.1; `start()` returns its base URL."""

    def __init__(
        self,
        server_name: str = "wiki.example.org",
        changes: Iterable[WikiChange] = (),
        *,
        sitename: str = "Example Wiki",
        port: int = 0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        rc_max_age_days: int = 90,
        miser_mode: bool = True,
        heartbeat_s: float = 0.5,
        bots: Iterable[str] = (),
    ) -> None:
        super().__init__(port)
        self.server_name = server_name
        self.sitename = sitename
        self.now = now
        self.rc_max_age = timedelta(days=rc_max_age_days)
        self.miser_mode = miser_mode
        self.heartbeat_s = heartbeat_s
        self.bots = set(bots)
        self.requests: list[RecordedRequest] = []
        self._changes: list[WikiChange] = []
        self._page_ids: dict[tuple[int, str], int] = {}
        self._lock = threading.Condition()
        self._stream_generation = 0
        self._abrupt = False
        self._stopping = False
        self.append(*changes)

    # -- control ---------------------------------------------------------------------------------------------

    label = "MediaWiki simulator"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return handler_for(self)

    def before_stop(self) -> None:
        """End open streams."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()

    @property
    def api_url(self) -> str:
        """The Action API endpoint."""
        return self.base_url + API_PATH

    @property
    def stream_url(self) -> str:
        """The EventStreams recentchange endpoint."""
        return self.base_url + STREAM_PATH

    def append(self, *changes: WikiChange) -> None:
        """Add changes (to the API and to open streams); rcids must grow, as the database assigns them."""
        with self._lock:
            for change in changes:
                if self._changes and change.rcid <= self._changes[-1].rcid:
                    raise ValueError(f"rcid {change.rcid} does not follow {self._changes[-1].rcid}")
                self._page_ids.setdefault((change.namespace, change.title), len(self._page_ids) + 1)
                self._changes.append(change)
            self._lock.notify_all()

    def close_streams(self, abruptly: bool = False) -> None:
        """End every open event stream now (the server keeps serving): properly, or `abruptly` (the connection
        drops before the stream's last chunk, as a network failure does)."""
        with self._lock:
            self._stream_generation += 1
            self._abrupt = abruptly
            self._lock.notify_all()

    def api_requests(self, **params: str) -> list[RecordedRequest]:
        """The API requests received whose parameters include all of `params` (`list="recentchanges"`)."""
        return [
            request
            for request in self.requests
            if request.path == API_PATH and all(request.params.get(name) == value for name, value in params.items())
        ]

    # -- request handling ------------------------------------------------------------------------------------

    def record(self, method: str, target: str, headers: Mapping[str, str]) -> Failure | None:
        """Record a request; the failure it must answer with, if one is pending."""
        with self._lock:
            self.requests.append(RecordedRequest(method, target, {name.lower(): v for name, v in headers.items()}))
        return self.next_failure()

    def answer_api(self, params: Mapping[str, str]) -> dict[str, Any]:
        """The JSON document the Action API gives for `params` (raises ApiError for a refused request)."""
        if params.get("format") != "json" or params.get("formatversion") != "2":
            raise ApiError("badformat", "this simulator speaks format=json&formatversion=2 only")
        if params.get("action") != "query":
            raise ApiError("badvalue", f'Unrecognized value for parameter "action": {params.get("action")}.')
        query: dict[str, Any] = {}
        answer: dict[str, Any] = {"batchcomplete": True}
        with self._lock:
            changes = list(self._changes)
            page_ids = dict(self._page_ids)
        if "siteinfo" in split(params.get("meta")):
            query["general"] = self.siteinfo()
        lists = split(params.get("list"))
        for name in lists:
            if name == "recentchanges":
                rows, token = self.recent_changes(changes, page_ids, params)
                query["recentchanges"] = rows
            elif name == "allrevisions":
                rows, token = self.all_revisions(changes, page_ids, params)
                query["allrevisions"] = rows
            elif name == "users":
                rows, token = self.users(changes, params), None
                query["users"] = rows
            else:
                raise ApiError("badvalue", f'Unrecognized value for parameter "list": {name}.')
            if token is not None:
                answer["continue"] = {**token, "continue": "-||"}
        if not query:
            raise ApiError("badparams", "give meta=siteinfo or list=recentchanges|allrevisions|users")
        answer["query"] = query
        return answer

    def siteinfo(self) -> dict[str, Any]:
        """`meta=siteinfo` general information."""
        return {
            "mainpage": "Main Page",
            "base": f"https://{self.server_name}/wiki/Main_Page",
            "sitename": self.sitename,
            "generator": "MediaWiki 1.41.0 (learnstream simulator)",
            "server": f"//{self.server_name}",
            "servername": self.server_name,
            "scriptpath": "/w",
            "articlepath": "/wiki/$1",
            "wikiid": self.server_name.replace(".", "_"),
            "timezone": "UTC",
        }

    def recent_changes(
        self, changes: list[WikiChange], page_ids: Mapping[tuple[int, str], int], params: Mapping[str, str]
    ) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
        """One page of `list=recentchanges` and the continuation, if more rows follow."""
        newer = direction(params.get("rcdir"))
        oldest = self.now() - self.rc_max_age
        rows = [c for c in changes if c.server_name in (None, self.server_name) and c.timestamp >= oldest]
        rows = in_range(rows, lambda c: c.timestamp, params.get("rcstart"), params.get("rcend"), newer, "rc")
        namespaces = split(params.get("rcnamespace"))
        if namespaces and "*" not in namespaces:
            rows = [c for c in rows if str(c.namespace) in namespaces]
        types = split(params.get("rctype"))
        if types:
            rows = [c for c in rows if c.type in types]
        for flag in split(params.get("rcshow")):
            wanted = not flag.startswith("!")
            rows = [c for c in rows if show_flag(c, flag.lstrip("!")) == wanted]
        rows.sort(key=lambda c: (c.timestamp, c.rcid), reverse=not newer)
        rows = after_continue(rows, params.get("rccontinue"), lambda c: (c.timestamp, c.rcid), newer, "rc")
        limit = parse_limit(params.get("rclimit"), "rc")
        props = set(split(params.get("rcprop")) or RC_DEFAULT_PROPS)
        page = [{**render_change(c, page_ids, props), **c.extra} for c in rows[:limit]]
        if len(rows) > limit:
            following = rows[limit]
            return page, {"rccontinue": f"{mw_timestamp(following.timestamp)}|{following.rcid}"}
        return page, None

    def all_revisions(
        self, changes: list[WikiChange], page_ids: Mapping[tuple[int, str], int], params: Mapping[str, str]
    ) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
        """One page of `list=allrevisions`, revisions grouped by page, and the continuation if more follow."""
        newer = direction(params.get("arvdir"))
        revisions = [c for c in changes if c.server_name in (None, self.server_name) and c.type != "log"]
        namespaces = split(params.get("arvnamespace"))
        wanted = None if not namespaces or "*" in namespaces else set(namespaces)
        if wanted is not None and not self.miser_mode:
            revisions = [c for c in revisions if str(c.namespace) in wanted]
        revisions = in_range(
            revisions, lambda c: c.timestamp, params.get("arvstart"), params.get("arvend"), newer, "arv"
        )
        revisions.sort(key=lambda c: (c.timestamp, c.revid), reverse=not newer)
        revisions = after_continue(revisions, params.get("arvcontinue"), lambda c: (c.timestamp, c.revid), newer, "arv")
        limit = parse_limit(params.get("arvlimit"), "arv")
        props = set(split(params.get("arvprop")) or ARV_DEFAULT_PROPS)
        pages: list[dict[str, Any]] = []
        index: dict[int, dict[str, Any]] = {}
        for change in revisions[:limit]:
            if wanted is not None and str(change.namespace) not in wanted:
                continue  # miser mode: filtered after the limit, as Wikimedia wikis do
            page_id = page_ids[(change.namespace, change.title)]
            revision = {**render_revision(change, props), **change.extra}
            if page_id in index:
                index[page_id]["revisions"].append(revision)
            else:
                index[page_id] = {
                    "pageid": page_id,
                    "revisions": [revision],
                    "ns": change.namespace,
                    "title": change.title,
                }
                pages.append(index[page_id])
        if len(revisions) > limit:
            following = revisions[limit]
            return pages, {"arvcontinue": f"{mw_timestamp(following.timestamp)}|{following.revid}"}
        return pages, None

    def users(self, changes: list[WikiChange], params: Mapping[str, str]) -> list[dict[str, Any]]:
        """`list=users&usprop=groups`: registered users with their groups; IPs invalid, unknown names missing."""
        registered = sorted({c.user for c in changes if not c.anon} | self.bots)
        bots = self.bots | {c.user for c in changes if c.bot}
        groups = "groups" in split(params.get("usprop"))
        answer: list[dict[str, Any]] = []
        for name in split(params.get("ususers")):
            if any(c.user == name and c.anon for c in changes):
                answer.append({"name": name, "invalid": True})
            elif name not in registered:
                answer.append({"name": name, "missing": True})
            else:
                user: dict[str, Any] = {"userid": registered.index(name) + 1, "name": name}
                if groups:
                    user["groups"] = ["bot", "*", "user", "autoconfirmed"] if name in bots else ["*", "user"]
                answer.append(user)
        return answer

    # -- the event stream ------------------------------------------------------------------------------------

    def stream_events(self, last_event_id: str | None, since: str | None) -> Iterator[str | None]:
        """SSE frames for the stream: every change after the resume point, then new ones as they are appended.

        Yields None when nothing came within the heartbeat interval (the caller sends a comment); ends when the
        server stops or `close_streams` is called.
        """
        with self._lock:
            generation = self._stream_generation
            position = self.stream_start(last_event_id, since)
        while True:
            with self._lock:
                if position >= len(self._changes) and not self._stopping and generation == self._stream_generation:
                    self._lock.wait(self.heartbeat_s)
                if self._stopping:
                    return
                if generation != self._stream_generation:
                    if self._abrupt:
                        raise StreamDropped
                    return
                pending = self._changes[position:]
            if not pending:
                yield None
            for offset, change in enumerate(pending, start=position):
                identifier = json.dumps([{"topic": STREAM_TOPIC, "partition": 0, "offset": offset}])
                event = {**stream_event(change, self.server_name, offset), **change.extra}
                yield f"event: message\nid: {identifier}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
            position += len(pending)

    def stream_start(self, last_event_id: str | None, since: str | None) -> int:
        """The stream offset to send first: after the Last-Event-ID's offset (or at its timestamp), else `since`."""
        if last_event_id:
            try:
                assignments = json.loads(last_event_id)
            except ValueError:
                assignments = []
            for assignment in assignments if isinstance(assignments, list) else []:
                if not isinstance(assignment, dict) or assignment.get("topic") != STREAM_TOPIC:
                    continue
                if isinstance(assignment.get("offset"), int) and assignment["offset"] >= 0:
                    return int(assignment["offset"]) + 1
                if isinstance(assignment.get("timestamp"), int):  # Kafka's offsetsForTimes: the first at or after
                    moment = datetime.fromtimestamp(assignment["timestamp"] / 1000, tz=UTC)
                    return self.first_at_or_after(moment)
        if since:
            moment = parse_timestamp(since, "since")
            return self.first_at_or_after(moment)
        return len(self._changes)  # no resume point: only what happens from now on

    def first_at_or_after(self, moment: datetime) -> int:
        """The offset of the first change at or after `moment` (the end if none)."""
        for offset, change in enumerate(self._changes):
            if change.timestamp >= moment:
                return offset
        return len(self._changes)


# -- wire formats ------------------------------------------------------------------------------------------------


def handler_for(api: MediaWikiApi) -> type[BaseHTTPRequestHandler]:
    """The request handler class serving `api`."""

    class Handler(JsonHandler):
        server_version = "mediawiki-simulator/1"
        protocol_version = "HTTP/1.1"  # chunked event streams, whose end is told apart from a dropped connection

        def do_GET(self) -> None:  # noqa: N802 (http.server's names)
            failure = api.record("GET", self.path, dict(self.headers.items()))
            if failure is not None:
                self.send_body(failure.status, b"simulated failure", "text/plain", failure.headers)
                return
            target = urlsplit(self.path)
            params = {name: values[-1] for name, values in parse_qs(target.query).items()}
            if target.path == API_PATH:
                self.serve_api(params)
            elif target.path == STREAM_PATH:
                self.serve_stream(params)
            else:
                self.send_body(404, b"not found", "text/plain")

        def serve_api(self, params: Mapping[str, str]) -> None:
            headers: dict[str, str] = {}
            try:
                document = api.answer_api(params)
            except ApiError as exc:
                document = {"error": {"code": exc.code, "info": exc.info}, "servedby": "simulator"}
                headers["MediaWiki-API-Error"] = exc.code
            body = json.dumps(document, ensure_ascii=False).encode("utf-8")
            self.send_body(200, body, "application/json; charset=utf-8", headers)

        def serve_stream(self, params: Mapping[str, str]) -> None:
            try:
                frames = api.stream_events(self.headers.get("Last-Event-ID"), params.get("since"))
                first = next(frames, None)  # resolves the resume point before the answer starts
            except ApiError as exc:
                self.send_body(400, exc.info.encode("utf-8"), "text/plain")
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.close_connection = True
            try:
                self.write_chunk(b":ok\n\n")
                for frame in itertools.chain([first], frames):
                    self.write_chunk(b":heartbeat\n\n" if frame is None else frame.encode("utf-8"))
                self.wfile.write(b"0\r\n\r\n")
            except StreamDropped:
                return  # the connection closes without the last chunk
            except (BrokenPipeError, ConnectionResetError):
                return  # the client went away

        def write_chunk(self, data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

        def send_body(self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] = {}) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler
