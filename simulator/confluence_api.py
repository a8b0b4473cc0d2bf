"""A local Confluence for tests and simulations: the Cloud REST endpoints the poller calls, and the webhook
deliveries Data Center posts.

Cloud (`/wiki/rest/api`, Basic e-mail:API-token, else 401):

- `GET /content/search?cql=&limit=&expand=&cursor=`: the CQL the poller sends (`type in (...)`, `space in (...)`,
  `lastmodified >= "yyyy-MM-dd HH:mm"` read in the site's time zone, `order by lastmodified [asc|desc]`); pages
  of content objects with `_links.next` carrying an opaque `cursor`, as the current API pages.
- `GET /content/{id}/version?start=&limit=`: a page's versions, newest first.
- `GET /content?spaceKey=&type=&status=&expand=&start=&limit=`: a space's content of one type and status (the
  poller lists the trash with `status=trashed`, which search leaves out), paged by `_links.next`.
- `GET /space?spaceKey=...` and `GET /user/current`.

Content objects carry `space`, `version` (`by`, `when`, `number`, `message`, `minorEdit`), `history`
(`createdBy`, `createdDate`), `container` and `ancestors` as the API expands them. `fail_next` answers the next
requests with a status (429 with Retry-After); `requests` records what arrived.

Data Center: `webhook_delivery` builds the body and headers Confluence posts for an event, signed with the
webhook's secret (`X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>`); `dc_page` and `dc_comment` build the
content objects of those payloads (their full form, as with `confluence.webhooks.id.only.disabled=true`), and
`id_only_delivery` the id-only form Confluence 8+ posts by default. `ConfluenceDataCenterApi` is the REST API an
id-only payload is read back from (`{context path}/rest/api`, a personal access token as Bearer, else 401):
`GET /content/{id}?status=&expand=` (404 for an unknown or purged id, or one whose status is not asked for) and
`GET /user/current`; its user objects carry `userKey` and `username`, as Data Center's do, and it builds the full
payloads of its content (`page_payload`, `comment_payload`) to compare with.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from simulator.local_server import Failure, JsonHandler, LocalServer
from simulator.mediawiki_api import RecordedRequest

API = "/wiki/rest/api"
CQL_TYPES = re.compile(r"\btype\s+in\s*\(([^)]*)\)", re.IGNORECASE)
CQL_SPACES = re.compile(r"\bspace\s+in\s*\(([^)]*)\)", re.IGNORECASE)
CQL_SINCE = re.compile(r'\blastmodified\s*(>=|>)\s*"(\d{4}-\d{2}-\d{2} \d{2}:\d{2})"', re.IGNORECASE)
CQL_ORDER = re.compile(r"\border\s+by\s+lastmodified(?:\s+(asc|desc))?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class User:
    """An Atlassian account; `email` is empty where the profile hides it (the Cloud default)."""

    account_id: str
    display_name: str
    email: str = ""


@dataclass(frozen=True)
class Version:
    """One version of a piece of content."""

    number: int
    when: datetime
    account_id: str
    message: str = ""
    minor: bool = False


@dataclass
class Content:
    """A page or a comment (`container` the page's id, `parent` the comment it answers)."""

    id: str
    type: str
    space: str
    title: str
    versions: list[Version] = field(default_factory=list)
    container: str | None = None
    parent: str | None = None
    status: str = "current"

    @property
    def last_modified(self) -> datetime:
        """The time of the current version."""
        return self.versions[-1].when


class ApiError(Exception):
    """A request the API refuses: its status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ConfluenceApi(LocalServer):
    """A local Confluence Cloud on 127.0.0.1; `start()` returns its base URL (the API is under `/wiki`)."""

    def __init__(
        self,
        site: str = "acme.atlassian.net",
        *,
        email: str = "bot@acme.example",
        api_token: str = "api-token",
        spaces: Iterable[str] = ("ENG",),
        users: Iterable[User] = (),
        time_zone: tzinfo = UTC,
        port: int = 0,
    ) -> None:
        super().__init__(port)
        self.site = site
        self.email = email
        self.api_token = api_token
        self.spaces = list(spaces)
        self.users = {user.account_id: user for user in users}
        self.time_zone = time_zone
        self.requests: list[RecordedRequest] = []
        self.contents: dict[str, Content] = {}
        #: False: the account may not list the trash (403), as without the space permission to see it
        self.trash_listable = True
        self._ids = itertools.count(100_001)
        self._lock = threading.Lock()

    # -- control ---------------------------------------------------------------------------------------------

    label = "Confluence simulator"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return handler_for(self)

    def api_requests(self, endpoint: str) -> list[RecordedRequest]:
        """The requests received for a path under the API that ends with `endpoint` (`/content/search`)."""
        return [request for request in self.requests if request.path.endswith(endpoint)]

    # -- content ---------------------------------------------------------------------------------------------

    def add_page(self, space: str, title: str, account_id: str, when: datetime, message: str = "") -> str:
        """Create a page (version 1); its id."""
        with self._lock:
            page = Content(id=str(next(self._ids)), type="page", space=space, title=title)
            page.versions.append(Version(1, when, account_id, message))
            self.contents[page.id] = page
            return page.id

    def edit_page(self, page_id: str, account_id: str, when: datetime, message: str = "", minor: bool = False) -> int:
        """Save a new version of a page or comment; its number."""
        with self._lock:
            content = self.contents[page_id]
            number = content.versions[-1].number + 1
            content.versions.append(Version(number, when, account_id, message, minor))
            return number

    def add_comment(self, page_id: str, account_id: str, when: datetime, parent: str | None = None) -> str:
        """Comment on a page (or answer the comment `parent`); the comment's id."""
        with self._lock:
            page = self.contents[page_id]
            comment = Content(
                id=str(next(self._ids)),
                type="comment",
                space=page.space,
                title=f"Re: {page.title}",
                container=page_id,
                parent=parent,
            )
            comment.versions.append(Version(1, when, account_id))
            self.contents[comment.id] = comment
            return comment.id

    def trash_page(self, page_id: str) -> None:
        """Move a page to the trash: search no longer finds it; the trash listing does (no new version)."""
        with self._lock:
            self.contents[page_id].status = "trashed"

    # -- request handling ------------------------------------------------------------------------------------

    def record(self, method: str, target: str, headers: Mapping[str, str]) -> Failure | None:
        """Record a request; the failure it must answer with, if one is pending."""
        with self._lock:
            self.requests.append(RecordedRequest(method, target, {name.lower(): v for name, v in headers.items()}))
        return self.next_failure()

    def authorised(self, header: str | None) -> bool:
        """Whether the Authorization header is Basic with the site's e-mail and API token."""
        expected = base64.b64encode(f"{self.email}:{self.api_token}".encode()).decode("ascii")
        return header is not None and hmac.compare_digest(header, f"Basic {expected}")

    def answer(self, path: str, params: Mapping[str, list[str]]) -> dict[str, Any]:
        """The JSON document for a GET under the API (raises ApiError)."""
        first = {name: values[-1] for name, values in params.items()}
        if path == f"{API}/user/current":
            return {**self.user(self.email_account()), "timeZone": str(self.time_zone)}
        if path == f"{API}/space":
            keys = [key for key in params.get("spaceKey", []) if key in self.spaces]
            return self.listing([self.space(key) for key in keys], 0, len(keys), None)
        if path == f"{API}/content/search":
            return self.search(first)
        if path == f"{API}/content":
            return self.content_list(first)
        match = re.fullmatch(rf"{API}/content/(\d+)/version", path)
        if match:
            return self.version_list(match.group(1), first)
        raise ApiError(404, f"no endpoint {path}")

    def search(self, params: Mapping[str, str]) -> dict[str, Any]:
        """One page of a CQL search: the parsed subset, ordered by last modification."""
        cql = params.get("cql") or ""
        types, spaces = CQL_TYPES.search(cql), CQL_SPACES.search(cql)
        since, order = CQL_SINCE.search(cql), CQL_ORDER.search(cql)
        if not (types and spaces and since and order):
            raise ApiError(400, f"Could not parse cql : {cql}")
        wanted_types = {name.strip().strip("\"'") for name in types.group(1).split(",")}
        wanted_spaces = {name.strip().strip("\"'") for name in spaces.group(1).split(",")}
        minute = datetime.strptime(since.group(2), "%Y-%m-%d %H:%M").replace(tzinfo=self.time_zone)
        strictly = since.group(1) == ">"
        with self._lock:
            found = [
                content
                for content in self.contents.values()
                if content.type in wanted_types
                and content.space in wanted_spaces
                and content.status == "current"
                and (content.last_modified > minute if strictly else content.last_modified >= minute)
            ]
            found.sort(key=lambda c: (c.last_modified, int(c.id)), reverse=(order.group(1) or "").lower() == "desc")
            rendered = [self.render(content) for content in found]
        limit = min(int(params.get("limit") or 25), 100)
        offset = decode_cursor(params.get("cursor"))
        page = rendered[offset : offset + limit]
        following = None
        if offset + limit < len(rendered):
            query = {"next": "true", "cursor": encode_cursor(offset + limit), "limit": str(limit), "cql": cql}
            if params.get("expand"):
                query["expand"] = params["expand"]
            following = f"/rest/api/content/search?{urlencode(query)}"
        return self.listing(page, offset, limit, following)

    def content_list(self, params: Mapping[str, str]) -> dict[str, Any]:
        """One page of a space's content of one type and status (`current` by default), by id, paged by start and
        limit."""
        space, kind, status = params.get("spaceKey"), params.get("type") or "page", params.get("status") or "current"
        if status == "trashed" and not self.trash_listable:
            raise ApiError(403, "Not permitted to view the trash of this space")
        with self._lock:
            found = [
                self.render(content)
                for content in sorted(self.contents.values(), key=lambda c: int(c.id))
                if content.space == space and content.type == kind and content.status == status
            ]
        start, limit = int(params.get("start") or 0), min(int(params.get("limit") or 25), 100)
        following = None
        if start + limit < len(found):
            query = {**params, "start": str(start + limit), "limit": str(limit)}
            following = f"/rest/api/content?{urlencode(query)}"
        return self.listing(found[start : start + limit], start, limit, following)

    def version_list(self, content_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """A content's versions, newest first, paged by start and limit."""
        with self._lock:
            content = self.contents.get(content_id)
            if content is None:
                raise ApiError(404, f"No content found with id: ContentId{{id={content_id}}}")
            versions = [self.version(v) for v in reversed(content.versions)]
        start, limit = int(params.get("start") or 0), min(int(params.get("limit") or 200), 200)
        following = None
        if start + limit < len(versions):
            following = f"/rest/api/content/{content_id}/version?{urlencode({'start': start + limit, 'limit': limit})}"
        return self.listing(versions[start : start + limit], start, limit, following)

    # -- rendering as the API does ---------------------------------------------------------------------------

    def listing(self, results: list[dict[str, Any]], start: int, limit: int, following: str | None) -> dict[str, Any]:
        """A list answer with its `_links`."""
        links: dict[str, str] = {"base": f"https://{self.site}/wiki", "context": "/wiki"}
        if following is not None:
            links["next"] = following
        return {"results": results, "start": start, "limit": limit, "size": len(results), "_links": links}

    def email_account(self) -> str:
        """The account the API token belongs to (a fixed id for the simulator's bot)."""
        return "557058:bot-account"

    def user(self, account_id: str) -> dict[str, Any]:
        """A user object as the API expands it (`by`, `createdBy`); an empty account id is an anonymous user."""
        if not account_id:
            return {"type": "anonymous", "displayName": "Anonymous", "isExternalCollaborator": False}
        known = self.users.get(account_id)
        email = self.email if account_id == self.email_account() else (known.email if known else "")
        name = known.display_name if known else account_id
        return {
            "type": "known",
            "accountId": account_id,
            "accountType": "atlassian",
            "email": email,
            "publicName": name,
            "profilePicture": {"path": "/wiki/aa-avatar/default.png", "width": 48, "height": 48, "isDefault": True},
            "displayName": name,
            "isExternalCollaborator": False,
            "_links": {"self": f"https://{self.site}/wiki/rest/api/user?accountId={account_id}"},
        }

    def space(self, key: str) -> dict[str, Any]:
        """A space object."""
        return {
            "id": 1000 + self.spaces.index(key),
            "key": key,
            "name": f"{key} space",
            "type": "global",
            "status": "current",
            "_links": {"webui": f"/spaces/{key}", "self": f"https://{self.site}/wiki/rest/api/space/{key}"},
        }

    def version(self, version: Version) -> dict[str, Any]:
        """A version object."""
        return {
            "by": self.user(version.account_id),
            "when": api_time(version.when),
            "friendlyWhen": version.when.strftime("%b %d, %Y"),
            "message": version.message,
            "number": version.number,
            "minorEdit": version.minor,
            "contentTypeModified": False,
            "_links": {"self": f"https://{self.site}/wiki/rest/api/content/version/{version.number}"},
        }

    def short(self, content: Content) -> dict[str, Any]:
        """Content as a `container` or an ancestor: without expansions."""
        return {
            "id": content.id,
            "type": content.type,
            "status": content.status,
            "title": content.title,
            "_links": {"self": f"https://{self.site}/wiki/rest/api/content/{content.id}"},
        }

    def render(self, content: Content) -> dict[str, Any]:
        """Content with `space,version,history,container,ancestors` expanded."""
        first = content.versions[0]
        ancestors: list[dict[str, Any]] = []
        if content.type == "comment":
            container = self.short(self.contents[str(content.container)])
            chain, parent = [], content.parent
            while parent is not None:
                chain.append(self.short(self.contents[parent]))
                parent = self.contents[parent].parent
            ancestors = list(reversed(chain))
            extensions: dict[str, Any] = {"location": "footer"}
        else:
            container = self.space(content.space)
            extensions = {"position": "none"}
        return {
            "id": content.id,
            "type": content.type,
            "status": content.status,
            "title": content.title,
            "space": self.space(content.space),
            "history": {
                "latest": True,
                "createdBy": self.user(first.account_id),
                "createdDate": api_time(first.when),
            },
            "version": self.version(content.versions[-1]),
            "container": container,
            "ancestors": ancestors,
            "extensions": extensions,
            "_links": {
                "webui": f"/spaces/{content.space}/pages/{content.container or content.id}",
                "self": f"https://{self.site}/wiki/rest/api/content/{content.id}",
            },
        }


def api_time(moment: datetime) -> str:
    """A REST timestamp: `2024-03-05T09:30:00.000Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def encode_cursor(offset: int) -> str:
    """An opaque search cursor."""
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode("ascii")


def decode_cursor(cursor: str | None) -> int:
    """The offset in an opaque search cursor (0 without one)."""
    if not cursor:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))["offset"])
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, "invalid cursor") from None


def handler_for(api: ConfluenceApi) -> type[BaseHTTPRequestHandler]:
    """The request handler class serving `api`."""

    class Handler(JsonHandler):
        content_type = "application/json;charset=UTF-8"

        server_version = "confluence-simulator/1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's names)
            failure = api.record("GET", self.path, dict(self.headers.items()))
            if failure is not None:
                self.send_json(failure.status, {"statusCode": failure.status, "message": "simulated"}, failure.headers)
                return
            if not api.authorised(self.headers.get("Authorization")):
                self.send_json(401, {"statusCode": 401, "message": "Unauthorized; scope does not match"})
                return
            target = urlsplit(self.path)
            try:
                document = api.answer(target.path, parse_qs(target.query))
            except ApiError as exc:
                self.send_json(exc.status, {"statusCode": exc.status, "message": exc.message})
                return
            self.send_json(200, document)

    return Handler


# -- Data Center webhooks ------------------------------------------------------------------------------------


def epoch_ms(moment: datetime) -> int:
    """A time as webhook payloads give it: epoch milliseconds."""
    return int(moment.timestamp() * 1000)


def dc_page(
    page_id: int,
    space_key: str,
    title: str,
    version: int,
    creator_key: str,
    last_modifier_key: str,
    created: datetime,
    modified: datetime,
    base_url: str = "https://wiki.corp.example",
) -> dict[str, Any]:
    """A page object of a Data Center webhook payload (full form)."""
    return {
        "id": page_id,
        "title": title,
        "contentType": "page",
        "creatorKey": creator_key,
        "lastModifierKey": last_modifier_key,
        "creationDate": epoch_ms(created),
        "modificationDate": epoch_ms(modified),
        "version": version,
        "self": f"{base_url}/pages/viewpage.action?pageId={page_id}",
        "spaceKey": space_key,
    }


def dc_comment(
    comment_id: int,
    page: Mapping[str, Any],
    creator_key: str,
    created: datetime,
    in_reply_to: int | None = None,
    version: int = 1,
) -> dict[str, Any]:
    """A comment object of a webhook payload: its page as `parent`, the comment it answers as `inReplyTo`."""
    comment: dict[str, Any] = {
        "id": comment_id,
        "title": f"Re: {page['title']}",
        "contentType": "comment",
        "creatorKey": creator_key,
        "lastModifierKey": creator_key,
        "creationDate": epoch_ms(created),
        "modificationDate": epoch_ms(created),
        "version": version,
        "self": f"{page['self']}&focusedCommentId={comment_id}#comment-{comment_id}",
        "spaceKey": page["spaceKey"],
        "parent": dict(page),
    }
    if in_reply_to is not None:
        comment["inReplyTo"] = {"id": in_reply_to}
    return comment


def webhook_delivery(
    event: str,
    secret: bytes,
    user_key: str,
    at: datetime,
    *,
    page: Mapping[str, Any] | None = None,
    comment: Mapping[str, Any] | None = None,
    update_trigger: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers Confluence Data Center posts for an event, signed with the webhook's secret."""
    payload: dict[str, Any] = {"timestamp": epoch_ms(at), "event": event, "userKey": user_key}
    if page is not None:
        payload["page"] = dict(page)
    if comment is not None:
        payload["comment"] = dict(comment)
    if update_trigger is not None:
        payload["updateTrigger"] = update_trigger
    body = json.dumps(payload).encode("utf-8")
    signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return body, {"content-type": "application/json; charset=utf-8", "x-hub-signature": signature}


def id_only_delivery(
    event: str, secret: bytes, user_key: str, at: datetime, *, page_id: int | None = None, comment_id: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers Confluence 8+ posts by default: the event's content named by its id only."""
    page = {"id": page_id} if page_id is not None else None
    comment = {"id": comment_id} if comment_id is not None else None
    return webhook_delivery(event, secret, user_key, at, page=page, comment=comment)


class ConfluenceDataCenterApi(ConfluenceApi):
    """A local Confluence Data Center's REST API on 127.0.0.1 under `context_path` (`/confluence`, or none);
    accounts are user keys (`User.account_id`), and `token` is the personal access token it accepts."""

    label = "Confluence Data Center simulator"

    def __init__(
        self,
        site: str = "wiki.corp.example",
        *,
        token: str = "dc-personal-access-token",
        context_path: str = "",
        spaces: Iterable[str] = ("ENG",),
        users: Iterable[User] = (),
        port: int = 0,
    ) -> None:
        super().__init__(site, spaces=spaces, users=users, port=port)
        self.token = token
        self.context_path = context_path.rstrip("/")

    @property
    def url(self) -> str:
        """The base URL a client is configured with: where it listens, with the context path."""
        return self.base_url + self.context_path

    def purge(self, content_id: str) -> None:
        """Remove content for good (purged from the trash, or a comment deleted): the API answers 404 for it."""
        with self._lock:
            del self.contents[content_id]

    def authorised(self, header: str | None) -> bool:
        """Whether the Authorization header is Bearer with the personal access token."""
        return header is not None and hmac.compare_digest(header, f"Bearer {self.token}")

    def email_account(self) -> str:
        """The user key the token belongs to."""
        return "ff8080-learnstream-bot"

    def answer(self, path: str, params: Mapping[str, list[str]]) -> dict[str, Any]:
        """The JSON document for a GET under `{context path}/rest/api` (raises ApiError)."""
        if not path.startswith(f"{self.context_path}/rest/api/"):
            raise ApiError(404, f"no endpoint {path}")
        path = path.removeprefix(self.context_path)
        if path == "/rest/api/user/current":
            return self.user(self.email_account())
        match = re.fullmatch(r"/rest/api/content/(\d+)", path)
        if match is None:
            raise ApiError(404, f"no endpoint {path}")
        statuses = set(params.get("status") or ["current"])
        with self._lock:
            content = self.contents.get(match.group(1))
            if content is None or not ({content.status, "any"} & statuses):
                raise ApiError(404, f"No content found with id: ContentId{{id={match.group(1)}}}")
            return self.render(content)

    def user(self, account_id: str) -> dict[str, Any]:
        """A Data Center user object: `userKey` and `username`, no account id; empty: an anonymous user."""
        if not account_id:
            return {"type": "anonymous", "displayName": "Anonymous"}
        known = self.users.get(account_id)
        name = known.display_name if known else account_id
        username = name.lower().replace(" ", ".")
        return {
            "type": "known",
            "username": username,
            "userKey": account_id,
            "profilePicture": {"path": "/images/icons/profilepics/default.svg", "width": 48, "height": 48},
            "displayName": name,
            "_links": {"self": f"https://{self.site}/rest/api/user?key={account_id}"},
        }

    def page_payload(self, page_id: str) -> dict[str, Any]:
        """The full webhook form of a page as it is now (`confluence.webhooks.id.only.disabled=true`)."""
        with self._lock:
            page = self.contents[page_id]
        first, last = page.versions[0], page.versions[-1]
        return dc_page(
            int(page.id), page.space, page.title, last.number, first.account_id, last.account_id, first.when, last.when
        )

    def comment_payload(self, comment_id: str) -> dict[str, Any]:
        """The full webhook form of a comment, with its page as `parent`."""
        with self._lock:
            comment = self.contents[comment_id]
        parent = int(comment.parent) if comment.parent is not None else None
        page = self.page_payload(str(comment.container))
        first = comment.versions[0]
        return dc_comment(int(comment.id), page, first.account_id, first.when, parent, comment.versions[-1].number)
