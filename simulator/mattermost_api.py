"""A local Mattermost server playing the REST API v4 and outgoing webhooks, for tests and simulations.

It keeps users, channels, posts and reactions, changed the way the real server changes them: a reply moves its
root's `update_at`, a reaction moves its post's, an edit keeps the earlier version as a deleted copy whose
`original_id` names the post, a deletion sets `delete_at`. It answers, with a Bearer token (else 401):

- `GET /api/v4/users/me`, `GET /api/v4/users/{user_id}`, `POST /api/v4/users/ids`, `GET /api/v4/channels/{id}`;
- `GET /api/v4/channels/{id}/posts`: `since` (posts with `update_at > since`, deleted ones and edit copies
  included, the roots of replies added to `posts` only, at most 1000), or `page`/`per_page` (default 60, at
  most 200) with an optional `before` post id (posts created strictly before it), newest first, deleted posts
  left out. `since` with any paging parameter is a 400, as the documentation forbids it;
- `GET /api/v4/posts/{post_id}/reactions`.

`fail_next` makes the next requests fail with a status (429 with Retry-After), and `requests` records what
arrived. `outgoing_webhook_body` builds the body Mattermost posts to an outgoing webhook.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from simulator.local_server import Failure, JsonHandler, LocalServer

API_PREFIX = "/api/v4/"
SINCE_LIMIT = 1000
PER_PAGE_DEFAULT, PER_PAGE_MAXIMUM = 60, 200


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received: method, path with query, the Authorization header."""

    method: str
    target: str
    authorization: str

    @property
    def path(self) -> str:
        """The path without the query."""
        return urlsplit(self.target).path

    @property
    def params(self) -> dict[str, str]:
        """The query parameters (the last value of each)."""
        return {name: values[-1] for name, values in parse_qs(urlsplit(self.target).query).items()}


class ApiError(Exception):
    """An answer other than 200, with Mattermost's error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class MattermostServer(LocalServer):
    """A local Mattermost on 127.0.0.1; `start()` returns the API root (`http://127.0.0.1:<port>/api/v4/`)."""

    def __init__(self, token: str, me: str, *, metadata_reactions: bool = True, port: int = 0) -> None:
        super().__init__(port)
        self.token = token
        self.me = me
        self.metadata_reactions = metadata_reactions
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.posts: dict[str, dict[str, Any]] = {}
        self.reactions: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._copies = 0

    # -- control ---------------------------------------------------------------------------------------------

    label = "Mattermost simulator"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return handler_for(self)

    @property
    def api_url(self) -> str:
        """The API root, ending in `/`."""
        return self.base_url + API_PREFIX

    def api_requests(self, path_suffix: str, **params: str) -> list[RecordedRequest]:
        """The requests whose path ends with `path_suffix` and whose parameters include `params`."""
        return [
            request
            for request in self.requests
            if request.path.endswith(path_suffix)
            and all(request.params.get(name) == value for name, value in params.items())
        ]

    # -- content, changed as the server changes it -----------------------------------------------------------

    def add_user(self, user_id: str, username: str, email: str = "", **fields: Any) -> None:
        """A user; `email` blank as the server shows it to a token that may not see addresses."""
        self.users[user_id] = {"id": user_id, "username": username, "email": email, "is_bot": False, **fields}

    def add_channel(self, channel_id: str, name: str, team_id: str, kind: str = "O") -> None:
        """A channel of a team (`O` open, `P` private)."""
        self.channels[channel_id] = {"id": channel_id, "name": name, "display_name": name, "team_id": team_id}
        self.channels[channel_id]["type"] = kind

    def post(self, post_id: str, channel_id: str, user_id: str, at: int, message: str, **fields: Any) -> None:
        """A new post (a reply with `root_id`, which moves its root's `update_at`); `file_ids` for files."""
        with self._lock:
            post = {
                "id": post_id,
                "create_at": at,
                "update_at": at,
                "edit_at": 0,
                "delete_at": 0,
                "is_pinned": False,
                "user_id": user_id,
                "channel_id": channel_id,
                "root_id": "",
                "original_id": "",
                "message": message,
                "type": "",
                "props": {},
                "hashtags": "",
                "file_ids": [],
                "pending_post_id": "",
                "metadata": {},
                **fields,
            }
            post["metadata"] = {
                "files": [
                    {"id": file_id, "post_id": post_id, "extension": "pdf", "mime_type": "application/pdf"}
                    for file_id in post["file_ids"]
                ]
            }
            self.posts[post_id] = post
            root = self.posts.get(post["root_id"])
            if root is not None and root["update_at"] < at:
                root["update_at"] = at

    def edit(self, post_id: str, at: int, message: str) -> None:
        """Edit a post: its earlier version stays as a deleted copy naming it in `original_id`."""
        with self._lock:
            post = self.posts[post_id]
            self._copies += 1
            copy_id = f"{post_id[:20]}copy{self._copies:02d}"
            self.posts[copy_id] = {**post, "id": copy_id, "original_id": post_id, "delete_at": at, "update_at": at}
            post.update(message=message, edit_at=at, update_at=at)

    def delete(self, post_id: str, at: int) -> None:
        """Delete a post (its reactions go with it)."""
        with self._lock:
            self.posts[post_id].update(delete_at=at, update_at=at, message="")
            self.reactions.pop(post_id, None)

    def react(self, post_id: str, user_id: str, emoji: str, at: int) -> None:
        """A reaction, which moves its post's `update_at`."""
        with self._lock:
            reaction = {"user_id": user_id, "post_id": post_id, "emoji_name": emoji, "create_at": at}
            self.reactions.setdefault(post_id, []).append(reaction)
            post = self.posts[post_id]
            post.update(has_reactions=True, update_at=max(post["update_at"], at))

    # -- answers ---------------------------------------------------------------------------------------------

    def record(self, method: str, target: str, authorization: str) -> Failure | None:
        """Record a request; the failure it must answer with, if one is pending."""
        with self._lock:
            self.requests.append(RecordedRequest(method, target, authorization))
        return self.next_failure()

    def rendered(self, post: Mapping[str, Any]) -> dict[str, Any]:
        """A post as the API shows it: `metadata.reactions` when it has some (unless switched off)."""
        shown = {**post, "metadata": dict(post.get("metadata") or {})}
        reactions = self.reactions.get(post["id"])
        if reactions and self.metadata_reactions:
            shown["metadata"]["reactions"] = list(reactions)
        return shown

    def answer_get(self, parts: list[str], params: Mapping[str, str]) -> Any:
        """The JSON of a GET below /api/v4/ (raises ApiError)."""
        with self._lock:
            if parts == ["users", "me"]:
                return self.users[self.me]
            if len(parts) == 2 and parts[0] == "users":
                return self.found(self.users, parts[1], "user")
            if len(parts) == 2 and parts[0] == "channels":
                return self.found(self.channels, parts[1], "channel")
            if len(parts) == 3 and parts[0] == "channels" and parts[2] == "posts":
                self.found(self.channels, parts[1], "channel")
                return self.channel_posts(parts[1], params)
            if len(parts) == 3 and parts[0] == "posts" and parts[2] == "reactions":
                self.found(self.posts, parts[1], "post")
                return list(self.reactions.get(parts[1], []))
        raise ApiError(404, "Unable to find the route")

    def found(self, table: Mapping[str, Any], key: str, what: str) -> Any:
        """An entry, or a 404 naming it."""
        if key not in table:
            raise ApiError(404, f"Unable to find the {what}.")
        return table[key]

    def channel_posts(self, channel_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """A post list: `since`, or a page (with `before`), as documented."""
        posts = [post for post in self.posts.values() if post["channel_id"] == channel_id]
        if "since" in params:
            if {"page", "per_page", "before", "after"} & set(params):
                raise ApiError(400, "since must not be used with before, after, page or per_page")
            since = int(params["since"])
            changed = [post for post in posts if post["update_at"] > since][:SINCE_LIMIT]
            roots = [self.posts[post["root_id"]] for post in changed if post["root_id"] in self.posts]
            listed = sorted(changed, key=lambda post: post["create_at"], reverse=True)
            return self.post_list(listed, roots)
        page, per_page = int(params.get("page", "0")), min(int(params.get("per_page", PER_PAGE_DEFAULT)), 200)
        live = sorted((post for post in posts if not post["delete_at"]), key=lambda p: p["create_at"], reverse=True)
        if params.get("before"):
            anchor = self.posts[params["before"]]["create_at"]
            live = [post for post in live if post["create_at"] < anchor]
        listed = live[page * per_page : (page + 1) * per_page]
        roots = [self.posts[post["root_id"]] for post in listed if post["root_id"] in self.posts]
        return self.post_list(listed, roots)

    def post_list(self, listed: list[dict[str, Any]], extra: list[dict[str, Any]]) -> dict[str, Any]:
        """The PostList shape: `order` of ids, `posts` by id (extra posts in `posts` only)."""
        shown = {post["id"]: self.rendered(post) for post in [*extra, *listed]}
        return {"order": [post["id"] for post in listed], "posts": shown, "next_post_id": "", "prev_post_id": ""}


def handler_for(server: MattermostServer) -> type[BaseHTTPRequestHandler]:
    """The request handler class serving `server`."""

    class Handler(JsonHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's names)
            self.serve("GET")

        def do_POST(self) -> None:  # noqa: N802 (http.server's names)
            self.serve("POST")

        def serve(self, method: str) -> None:
            authorization = self.headers.get("Authorization", "")
            failure = server.record(method, self.path, authorization)
            if failure is not None:
                self.send_json(failure.status, {"message": "simulated failure"}, failure.headers)
                return
            if authorization != f"Bearer {server.token}":
                self.send_json(401, {"id": "api.context.session_expired.app_error", "status_code": 401})
                return
            target = urlsplit(self.path)
            parts = target.path.removeprefix(API_PREFIX).strip("/").split("/")
            params = {name: values[-1] for name, values in parse_qs(target.query).items()}
            try:
                if method == "POST" and parts == ["users", "ids"]:
                    length = int(self.headers.get("Content-Length", "0"))
                    wanted = json.loads(self.rfile.read(length) or b"[]")
                    body: Any = [server.users[user] for user in wanted if user in server.users]
                else:
                    body = server.answer_get(parts, params)
            except ApiError as exc:
                self.send_json(exc.status, {"message": str(exc), "status_code": exc.status})
                return
            self.send_json(200, body)

    return Handler


def outgoing_webhook_body(
    *,
    token: str,
    team_id: str,
    team_domain: str,
    channel_id: str,
    channel_name: str,
    timestamp_ms: int,
    user_id: str,
    user_name: str,
    post_id: str,
    text: str,
    trigger_word: str = "",
    file_ids: tuple[str, ...] = (),
    as_json: bool = False,
) -> tuple[bytes, str]:
    """The body and Content-Type Mattermost posts to an outgoing webhook: JSON gives `timestamp` in milliseconds,
    the form encoding in seconds; `file_ids` is one comma-separated text in both."""
    fields: dict[str, Any] = {
        "token": token,
        "team_id": team_id,
        "team_domain": team_domain,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "timestamp": timestamp_ms if as_json else str(timestamp_ms // 1000),
        "user_id": user_id,
        "user_name": user_name,
        "post_id": post_id,
        "text": text,
        "trigger_word": trigger_word,
        "file_ids": ",".join(file_ids),
    }
    if as_json:
        return json.dumps(fields).encode("utf-8"), "application/json"
    return urlencode(fields).encode("ascii"), "application/x-www-form-urlencoded"
