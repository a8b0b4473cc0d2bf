"""The xAPI endpoint of `serve` under /xapi/: the Statement and About resources (xAPI 1.0.3 and 2.0.0).

An LMS is pointed at `<serve>/xapi/` with HTTP Basic credentials from `LEARNSTREAM_LRS__CREDENTIALS` (`write`
stores, `read` reads back). A write is checked (lrs/service.py), its activities published to Kafka, then the
Statements stored, all before the answer, together with the other writes that arrived meanwhile (lrs/writer.py);
groups take turns, so two requests cannot both store one id. The
document resources (State, Activity Profile, Agent Profile) and the Activities and Agents resources answer 501:
out of scope (the README says so).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from aiohttp import web

from learnstream import metrics
from learnstream.errors import BadParameter, BrokerUnavailable, LearnstreamError, UsageError, WarehouseError
from learnstream.settings import LrsSettings
from lrs.attachments import AttachmentPart, render_multipart
from lrs.drafting import Request, StatementRejected
from lrs.formats import in_format
from lrs.service import Lrs, check_get_parameters
from lrs.statements import iso_utc
from lrs.validation import is_2_0
from lrs.writer import GroupWriter
from producers.contracts import OutgoingRecord
from producers.receiving import Publisher, count_published, read_body

logger = logging.getLogger(__name__)

BASE = "/xapi"
VERSION_HEADER = "X-Experience-API-Version"
SUPPORTED = ["1.0.3", "2.0.0"]
#: The version an answer names when the request named none (both versions' clients accept it).
LATEST = "2.0.0"
OUT_OF_SCOPE = ("activities/state", "activities/profile", "agents/profile", "activities", "agents")


def credential_of(header: str | None, settings: LrsSettings, scope: str) -> tuple[str | None, int, str]:
    """(the credential's name, 0, '') when Basic credentials hold `scope`, else (None, 401 or 403, why)."""
    if not header or not header.startswith("Basic "):
        return None, 401, "send HTTP Basic credentials (LEARNSTREAM_LRS__CREDENTIALS)"
    try:
        name, _, secret = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, 401, "the Basic credentials are not base64 of name:secret"
    holder = None
    for credential in settings.credentials:  # every one compared: the time says nothing about which matched
        matched = hmac.compare_digest(name.encode(), credential.name.encode())
        if hmac.compare_digest(secret.encode(), credential.secret.get_secret_value().encode()) and matched:
            holder = credential
    if holder is None:
        return None, 401, "the credentials are not valid"
    if scope not in holder.scopes:
        return None, 403, f"the credentials {holder.name!r} lack the scope {scope!r}"
    return holder.name, 0, ""


def answer_version(requested: str) -> str:
    return "2.0.0" if is_2_0(requested) else "1.0.3"


@dataclass(frozen=True)
class Call:
    """One Statement API call as the LRS reads it: from the request itself, or from an alternate-syntax form."""

    method: str
    headers: Mapping[str, str]  # the names as xAPI writes them, matched without regard to case
    query: dict[str, str]
    body: bytes

    def header(self, name: str, default: str | None = None) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == wanted), default)


#: Form parameters the alternate syntax carries as headers (Communication 1.3).
FORM_HEADERS = (
    "Authorization",
    "X-Experience-API-Version",
    "Content-Type",
    "Content-Length",
    "If-Match",
    "If-None-Match",
)


def alternate_call(method: str, query: Mapping[str, str], headers: Mapping[str, str], form: bytes) -> Call:
    """The call a POST ?method=... stands for: form parameters named like the headers are headers, `content` is
    the body (UTF-8 text), the rest are the query (xAPI 1.0.3 Communication 1.3). StatementRejected if malformed."""
    if set(query) != {"method"}:
        raise StatementRejected(400, "with ?method=, every other parameter goes into the form, not the query string")
    if method not in ("GET", "PUT", "POST"):
        raise StatementRejected(400, f"method={method}: the Statement resource takes GET, PUT or POST")
    try:
        fields = urllib.parse.parse_qs(form.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(form))
    except (UnicodeDecodeError, ValueError) as exc:
        raise StatementRejected(400, f"the form is not application/x-www-form-urlencoded UTF-8: {exc}") from exc
    single = {key: values[-1] for key, values in fields.items()}
    as_headers = {name: single.pop(name) for name in FORM_HEADERS if name in single}
    content = single.pop("content", "")
    merged = {**{k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length")}, **as_headers}
    return Call(method, merged, single, content.encode("utf-8"))


def lrs_routes(lrs: Lrs, publisher: Publisher, settings: LrsSettings) -> list[web.RouteDef]:
    """The /xapi/ routes over one LRS and the receivers' publisher."""

    async def publish(records: Sequence[OutgoingRecord]) -> None:
        await publisher.publish(records, ())
        count_published("lrs", publisher.activity_topic, records, ())

    writer = GroupWriter(lrs, publish)

    def refusal(status: int, message: str, version: str = LATEST, **headers: str) -> web.Response:
        return web.json_response({"error": message}, status=status, headers={VERSION_HEADER: version, **headers})

    async def statements(request: web.Request) -> web.StreamResponse:
        body = await read_body(request, settings.max_body_bytes)
        if body is None:
            return refusal(413, f"the request is larger than {settings.max_body_bytes} bytes")
        try:
            if request.method == "POST" and "method" in request.query:
                call = alternate_call(request.query["method"].upper(), request.query, request.headers, body)
                requested = call.header(VERSION_HEADER) or ""
                if requested.startswith("2."):
                    raise StatementRejected(400, "xAPI 2.0 has no alternate request syntax: send the request itself")
            else:
                call = Call(request.method, request.headers, dict(request.query), body)
        except StatementRejected as exc:
            return web.json_response(exc.body, status=exc.status, headers={VERSION_HEADER: LATEST})
        response = await dispatch(call)
        if response.status >= 400:
            metrics.LRS_REFUSED.labels(str(response.status)).inc()
        if call.method in ("GET", "HEAD"):  # on every answer to a read, errors too: clients wait on it
            response.headers.setdefault("X-Experience-API-Consistent-Through", consistent_through())
        return response

    async def dispatch(call: Call) -> web.StreamResponse:
        requested = call.header(VERSION_HEADER)
        if requested is None:
            return refusal(400, f"send the {VERSION_HEADER} header (1.0.3 or 2.0.0)")
        try:
            version = answer_version(requested)
        except BadParameter as exc:
            return refusal(400, str(exc))
        scope = "read" if call.method in ("GET", "HEAD") else "write"
        name, status, why = credential_of(call.header("Authorization"), settings, scope)
        if name is None:
            auth = {"WWW-Authenticate": 'Basic realm="learnstream xAPI"'} if status == 401 else {}
            return refusal(status, why, version, **auth)
        try:
            if call.method in ("GET", "HEAD"):
                response = await get(call)
            elif call.method == "PUT":
                response = await put(call, name, requested)
            else:
                response = await post(call, name, requested)
        except StatementRejected as exc:
            return web.json_response(exc.body, status=exc.status, headers={VERSION_HEADER: version})
        except UsageError as exc:
            return refusal(400, str(exc), version)
        except BrokerUnavailable as exc:
            logger.warning("xAPI: answering 503: %s", exc)
            return refusal(503, "cannot publish now; retry later", version, **{"Retry-After": "5"})
        except WarehouseError as exc:
            logger.error("xAPI: the Statement store failed: %s", exc)
            return refusal(503, "the Statement store cannot be reached; retry later", version, **{"Retry-After": "5"})
        except LearnstreamError as exc:
            return refusal(503, str(exc), version)
        except Exception:  # a fault of ours: a JSON 500 with the version, and the trace in the log
            logger.exception("xAPI: the LRS failed on %s %s", call.method, BASE)
            return refusal(500, "the LRS failed on this request; see its log", version)
        response.headers[VERSION_HEADER] = version
        return response

    def consistent_through() -> str:
        return iso_utc(writer.consistent_through(datetime.now(UTC)))

    async def write(call: Call, credential: str, version: str, statement_id: str | None) -> list[str]:
        content_type = call.header("Content-Type", "application/json") or "application/json"
        arrived = datetime.now(UTC)
        ids = await writer.write(Request(content_type, call.body, version, credential, arrived, statement_id))
        metrics.LRS_STATEMENTS.labels(credential).inc(len(ids))
        return ids

    async def post(call: Call, credential: str, version: str) -> web.StreamResponse:
        return web.json_response(await write(call, credential, version, None))

    async def put(call: Call, credential: str, version: str) -> web.StreamResponse:
        statement_id = call.query.get("statementId")
        if not statement_id:
            raise StatementRejected(400, "PUT needs the statementId parameter")
        await write(call, credential, version, statement_id)
        return web.Response(status=204)

    async def get(call: Call) -> web.StreamResponse:
        params = call.query
        check_get_parameters(params)
        languages = call.header("Accept-Language", "") or ""
        consistent = {"X-Experience-API-Consistent-Through": consistent_through()}
        single = params.get("statementId") or params.get("voidedStatementId")
        if single:
            found = await asyncio.to_thread(lrs.store.one, single, "voidedStatementId" in params)
            if found is None:
                raise StatementRejected(404, f"no Statement {single}")
            text, stored, hashes = found
            statement = in_format(json.loads(text), params.get("format", "exact"), languages)
            headers = {**consistent, "Last-Modified": format_datetime(stored.replace(tzinfo=UTC), usegmt=True)}
            return await respond(statement, hashes if params.get("attachments") == "true" else None, headers)
        query = lrs.query_of(params, settings.max_page)
        texts, last = await asyncio.to_thread(lrs.store.find, query)
        output = query.extra.get("format", "exact")
        found_statements = [in_format(json.loads(text), output, languages) for text in texts]
        more = f"{BASE}/statements?more={query.more_token(last)}" if last else ""
        latest = await asyncio.to_thread(lrs.store.latest_stored)
        headers = dict(consistent)
        if latest is not None:
            headers["Last-Modified"] = format_datetime(latest.replace(tzinfo=UTC), usegmt=True)
        hashes = [item["sha2"] for s in found_statements for item in s.get("attachments") or []]
        wanted = hashes if query.extra.get("attachments") == "true" else None
        return await respond({"statements": found_statements, "more": more}, wanted, headers)

    async def respond(document: object, hashes: list[str] | None, headers: dict[str, str]) -> web.StreamResponse:
        """JSON, or multipart/mixed with the attachments when `hashes` is a list (attachments=true, even empty)."""
        body = json.dumps(document, ensure_ascii=False).encode()
        if hashes is None:
            return web.Response(body=body, content_type="application/json", headers=headers)
        found = await asyncio.to_thread(lrs.store.attachments, sorted(set(hashes)))
        parts = [AttachmentPart.for_data(item.data, item.sha2, item.content_type) for item in found]
        content_type, multipart = render_multipart(body, parts)
        return web.Response(body=multipart, headers={**headers, "Content-Type": content_type})

    async def about(_request: web.Request) -> web.StreamResponse:
        return web.json_response({"version": SUPPORTED, "extensions": {}}, headers={VERSION_HEADER: "1.0.3"})

    async def out_of_scope(request: web.Request) -> web.StreamResponse:
        if VERSION_HEADER not in request.headers:
            return refusal(400, f"send the {VERSION_HEADER} header (1.0.3 or 2.0.0)")
        return refusal(
            501,
            f"{request.path} is not implemented: this LRS stores Statements only (the State, Activity Profile and "
            "Agent Profile resources and the Activities and Agents resources are out of scope)",
        )

    routes = [
        web.get(f"{BASE}/about", about),
        web.get(f"{BASE}/statements", statements),  # and HEAD, which answers the headers of the GET
        web.route("PUT", f"{BASE}/statements", statements),
        web.route("POST", f"{BASE}/statements", statements),
    ]
    for path in OUT_OF_SCOPE:
        routes.append(web.route("*", f"{BASE}/{path}", out_of_scope))
    return routes
