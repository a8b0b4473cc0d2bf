"""Bad input of every kind, mixed with valid activities: each set aside with its reason, nothing stopped.

Two doors. The raw topic, as a misbehaving producer would write it: each kind below is a small pure function of a
valid activity's bytes and a seed (`RAW_KINDS`, reused by the unit tests), and must become a dead letter with its
reason and a detail that says what is wrong without echoing the message. And serve's receivers over HTTP: wrong
Slack signatures (401, nothing published), Slack's retries of an event (one activity, not two), bodies over the
limit (413), invalid xAPI Statements (400, nothing published), between valid events and Statements.
"""

from __future__ import annotations

import base64
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench.synthetic import synthetic_activities
from faults.outcome import Outcome, Scenario, expected_event_ids, settle
from faults.rig import SLACK_SECRET, SLACK_WORKSPACE, Rig, topic_size
from lrs.service import LRS_INSTANCE
from producers.chat.slack_events import slack_signature
from schemas.activity import Activity
from schemas.dead_letter import DeadLetter, DeadLetterReason
from schemas.ids import activity_id_for

#: Put into the values of bad inputs: no dead letter's detail may repeat it (details name fields, never values).
MARKER = "faults-private-value"
#: The Activity's text limit (schemas/activity.py) and a message near the broker's own (topics' max.message.bytes).
TEXT_LIMIT: int = Activity.model_json_schema()["properties"]["text"]["anyOf"][0]["maxLength"]
NEAR_BROKER_LIMIT = 1_000_000

RawInput = Callable[[bytes, int], bytes]


def _document(valid: bytes) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(valid)
    return document


def _encode(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _member(valid: bytes, key: str) -> tuple[int, int]:
    """Where the member `"key":value` of the activity's top level begins and ends in its compact bytes."""
    text = valid.decode("utf-8")
    start = text.index(f'"{key}":')
    _, end = json.JSONDecoder().raw_decode(text, start + len(key) + 3)
    return len(text[:start].encode()), len(text[:end].encode())


# -- the raw topic's bad inputs: (a valid activity's compact JSON, a seed) -> the bytes a bad producer writes ----------


def truncated_json(valid: bytes, seed: int) -> bytes:
    """The message cut short anywhere (a producer's buffer flushed half-way)."""
    return valid[: random.Random(seed).randrange(1, len(valid) - 1)]


def invalid_json(valid: bytes, seed: int) -> bytes:
    """Text that is almost JSON: single quotes, a trailing comma, a missing colon, a comment, two documents, ..."""
    variants = (
        lambda: valid.replace(b'"', b"'"),
        lambda: valid[:-1] + b",}",
        lambda: valid.replace(b'":', b'" ', 1),
        lambda: valid + b" and more",
        lambda: valid + valid,
        lambda: b"/* v1 */" + valid,
        lambda: b"\xef\xbb\xbf" + valid,  # a byte order mark
        lambda: valid.replace(b'"schema_version":2', b'"schema_version":two', 1),
        lambda: b" \n\t ",
    )
    return variants[random.Random(seed).randrange(len(variants))]()


def invalid_utf8(valid: bytes, seed: int) -> bytes:
    """Bytes that are not UTF-8 inside a string: a stray byte, a lone surrogate, an overlong form, a cut sequence."""
    rng = random.Random(seed)
    bad = rng.choice((b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80", b"\xe2\x82"))
    start, end = _member(valid, "native_id")
    at = rng.randrange(start + len(b'"native_id":"'), end - 1)
    return valid[:at] + bad + valid[at:]


def non_object_json(valid: bytes, seed: int) -> bytes:
    """Valid JSON that is not an object: a list, a string, a number, null, a boolean, the activity in a list."""
    rng = random.Random(seed)
    variants: tuple[Any, ...] = ([1, 2, 3], MARKER, rng.randint(0, 10**9), rng.random(), None, True, False)
    choice = rng.randrange(len(variants) + 1)
    return b"[" + valid + b"]" if choice == len(variants) else _encode(variants[choice])


def wrong_types(valid: bytes, seed: int) -> bytes:
    """A field of the wrong JSON type: a number for a string, a string for an object, a list for a map, ..."""
    rng = random.Random(seed)
    document = _document(valid)
    name, value = rng.choice(
        (
            ("actor", 42),
            ("native_id", 17),
            ("source_instance", True),
            ("subject", 12.5),
            ("text", {"body": MARKER}),
            ("text", [MARKER]),
            ("conversation", MARKER),
            ("attributes", [MARKER]),
            ("occurred_at", [2026, 10, 5]),
            ("in_reply_to", 3),
        )
    )
    document[name] = value
    return _encode(document)


def unknown_field(valid: bytes, seed: int) -> bytes:
    """A field the contract does not have (a typo, a camelCase twin, a field of a newer producer)."""
    rng = random.Random(seed)
    document = _document(valid)
    name = rng.choice(("mood", "activityId", "user_email", "priority", "__proto__", f"x_{rng.randrange(10**6)}"))
    document[name] = MARKER
    return _encode(document)


def missing_required_field(valid: bytes, seed: int) -> bytes:
    """A required field left out."""
    required = ("activity_id", "source", "source_instance", "native_id", "kind", "occurred_at", "actor", "conversation")
    document = _document(valid)
    del document[random.Random(seed).choice(required)]
    return _encode(document)


def naive_timestamp(valid: bytes, seed: int) -> bytes:
    """`occurred_at` without a zone: which instant it means depends on where it was written."""
    rng = random.Random(seed)
    document = _document(valid)
    stamp = (
        f"2026-10-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    )
    document["occurred_at"] = rng.choice((stamp, stamp + ".250", stamp.replace("T", " ")))
    return _encode(document)


def unknown_schema_version(valid: bytes, seed: int) -> bytes:
    """A schema version this worker does not know (a newer producer, or a bad one)."""
    document = _document(valid)
    document["schema_version"] = random.Random(seed).choice((0, 3, 4, 7, 10, 99, 1000))
    return _encode(document)


def duplicate_key(valid: bytes, seed: int) -> bytes:
    """A key twice in one object (the parser would keep the last value): a second actor, text, version or instance,
    before or after the first, spaced, or spelled with an escape; or a key twice in the conversation or attributes."""
    rng = random.Random(seed)
    key, value = rng.choice(
        (
            ("actor", f"p_{rng.getrandbits(96):024x}"),
            ("text", MARKER),
            ("schema_version", 7),
            ("source_instance", MARKER),
        )
    )
    second = json.dumps(value).encode()
    start, end = _member(valid, key)
    where = rng.randrange(6)
    if where == 0:
        return valid[:start] + f'"{key}":'.encode() + second + b"," + valid[start:]
    if where == 1:  # after the first, so its value is the one kept
        return valid[:end] + f',"{key}":'.encode() + second + valid[end:]
    if where == 2:  # pretty-printed: whitespace between the key and its colon
        return valid[:end] + f' ,\n  "{key}" :'.encode() + second + valid[end:]
    if where == 3:  # the same key, its first letter escaped
        return valid[:start] + f'"\\u{ord(key[0]):04x}{key[1:]}":'.encode() + second + b"," + valid[start:]
    if where == 4:
        return valid.replace(b'"conversation":{', b'"conversation":{"id":"' + MARKER.encode() + b'",', 1)
    _, end = _member(valid, "attributes")
    return (
        valid[: end - 1] + (b"," if valid[end - 2 : end] != b"{}" else b"") + b'"bot":true,"bot":false}' + valid[end:]
    )


def nesting_bomb(valid: bytes, seed: int) -> bytes:
    """Arrays or objects nested far deeper than any activity (a parser without a limit would recurse until it
    crashes), as an attribute, as the text, or as the whole message."""
    rng = random.Random(seed)
    depth = rng.randint(200, 50_000)
    bomb = b"[" * depth + b"]" * depth if rng.random() < 0.5 else b'{"a":' * depth + b"1" + b"}" * depth
    where = rng.randrange(3)
    if where == 0:
        return bomb
    start, end = _member(valid, "attributes" if where == 1 else "text")
    return valid[:start] + (b'"attributes":{"deep":' + bomb + b"}" if where == 1 else b'"text":' + bomb) + valid[end:]


def oversized_text(valid: bytes, seed: int) -> bytes:
    """A text over the Activity's limit."""
    rng = random.Random(seed)
    document = _document(valid)
    length = rng.randint(TEXT_LIMIT + 1, 10 * TEXT_LIMIT)
    document["text"] = (f"{MARKER} " * (length // len(MARKER) + 1))[:length]
    return _encode(document)


def oversized_message(valid: bytes, seed: int) -> bytes:
    """A message of a megabyte, near the broker's limit for a record (its dead letter, in base64, is larger)."""
    rng = random.Random(seed)
    document = _document(valid)
    chunk = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz ", k=999)) + " "
    document["text"] = ""
    room = NEAR_BROKER_LIMIT - len(_encode(document))
    document["text"] = (chunk * (room // len(chunk) + 1))[:room]
    return _encode(document)


def forged_activity_id(valid: bytes, seed: int) -> bytes:
    """An `activity_id` that is not the one its source, instance and native id give (a copy-paste, or a forgery)."""
    document = _document(valid)
    document["activity_id"] = f"{random.Random(seed).getrandbits(128):032x}"
    return _encode(document)


def empty_message(_valid: bytes, _seed: int) -> bytes:
    """A record without a value."""
    return b""


@dataclass(frozen=True)
class BadKind:
    """A kind of bad raw input, the reason its dead letter must give, and what its detail must say."""

    name: str
    make: RawInput
    reason: DeadLetterReason
    detail: str
    at_most: int | None = None  # a cap on how many a run sends (the megabyte messages)


RAW_KINDS: tuple[BadKind, ...] = (
    BadKind(
        "truncated JSON", truncated_json, DeadLetterReason.INVALID_JSON, "not JSON: Invalid JSON: EOF while parsing"
    ),
    BadKind("invalid JSON", invalid_json, DeadLetterReason.INVALID_JSON, "not JSON: Invalid JSON: "),
    BadKind("invalid UTF-8", invalid_utf8, DeadLetterReason.INVALID_JSON, "not JSON: Invalid JSON: "),
    BadKind("non-object JSON", non_object_json, DeadLetterReason.SCHEMA_INVALID, "not a valid Activity: a JSON "),
    BadKind("wrong types", wrong_types, DeadLetterReason.SCHEMA_INVALID, ": Input should be "),
    BadKind("unknown field", unknown_field, DeadLetterReason.SCHEMA_INVALID, "Extra inputs are not permitted"),
    BadKind("missing field", missing_required_field, DeadLetterReason.SCHEMA_INVALID, ": Field required"),
    BadKind(
        "naive timestamp",
        naive_timestamp,
        DeadLetterReason.SCHEMA_INVALID,
        "occurred_at: Input should have timezone info",
    ),
    BadKind(
        "unknown schema version",
        unknown_schema_version,
        DeadLetterReason.UNSUPPORTED_SCHEMA_VERSION,
        "is not supported by this worker (supported: 1, 2)",
    ),
    BadKind("duplicate key", duplicate_key, DeadLetterReason.SCHEMA_INVALID, "appears twice in one object"),
    BadKind("nesting bomb", nesting_bomb, DeadLetterReason.INVALID_JSON, "recursion limit exceeded"),
    BadKind(
        "oversized text",
        oversized_text,
        DeadLetterReason.SCHEMA_INVALID,
        f"text: String should have at most {TEXT_LIMIT} characters",
    ),
    BadKind(
        "1 MB message",
        oversized_message,
        DeadLetterReason.SCHEMA_INVALID,
        f"text: String should have at most {TEXT_LIMIT} characters",
        at_most=5,
    ),
    BadKind(
        "forged activity id",
        forged_activity_id,
        DeadLetterReason.SCHEMA_INVALID,
        "does not match source/source_instance/native_id",
    ),
    BadKind("empty message", empty_message, DeadLetterReason.EMPTY_MESSAGE, "message has no value"),
)


# -- serve's receivers: Slack events and xAPI Statements, valid and not ------------------------------------------------

SLACK_PATH = "/hooks/slack/faults-slack"
XAPI_PATH = "/xapi/statements"
SLACK_CHANNEL = "C0FAULTS01"
SLACK_BODY_LIMIT = 1_048_576  # the receiver's max_body_bytes (the connector file's default)
LRS_CREDENTIAL = ("faults-lms", "faults-lms-writer-secret-0123456789")
LRS_BODY_LIMIT = 65_536  # LRS__MAX_BODY_BYTES for this scenario, so a 413 costs a small request
XAPI_VERSION = {"X-Experience-API-Version": "1.0.3"}

Headers = dict[str, str]


def slack_headers(body: bytes, timestamp: float, secret: str = SLACK_SECRET) -> Headers:
    """The headers Slack signs a request with."""
    stamp = str(int(timestamp))
    signature = slack_signature(secret.encode(), stamp, body)
    return {"Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


def slack_message_event(index: int) -> bytes:
    """A signed-to-be Events API envelope of one channel message; its activity id is `slack_activity_id(index)`."""
    ts = f"{1_790_000_000 + index}.{index % 1_000_000:06d}"
    text = f"how do I restart the stream processor? (question {index})"
    user = f"U0FLT{index % 97:04d}"
    event = {"type": "message", "channel": SLACK_CHANNEL, "channel_type": "channel", "user": user, "text": text}
    envelope: dict[str, Any] = {"token": "unused", "team_id": SLACK_WORKSPACE, "api_app_id": "A0FAULTS"}
    envelope.update(type="event_callback", event_id=f"Ev{index:010d}", event_time=1_790_000_000 + index)
    envelope["event"] = {**event, "ts": ts, "event_ts": ts}
    return _encode(envelope)


def slack_activity_id(index: int) -> str:
    """The activity id of `slack_message_event(index)`'s message."""
    ts = f"{1_790_000_000 + index}.{index % 1_000_000:06d}"
    return activity_id_for("slack", SLACK_WORKSPACE, f"{SLACK_CHANNEL}/{ts}")


def wrongly_signed(body: bytes, seed: int, now: float) -> Headers:
    """Headers that must not pass: another secret, a stale (replayed) request, a signature of another body, or a
    missing, malformed or foreign-version signature."""
    choice = random.Random(seed).randrange(7)
    good = slack_headers(body, now)
    if choice == 0:
        return slack_headers(body, now, secret="not-the-signing-secret")
    if choice == 1:
        return slack_headers(body, now - 3600)  # signed right, an hour ago: a captured request sent again
    if choice == 2:
        return slack_headers(body + b" ", now)  # the signature of another body
    if choice == 3:
        del good["X-Slack-Signature"]
    elif choice == 4:
        del good["X-Slack-Request-Timestamp"]
    elif choice == 5:
        good["X-Slack-Request-Timestamp"] = "yesterday"
    else:
        good["X-Slack-Signature"] = "v1=" + good["X-Slack-Signature"][3:]
    return good


def oversized_body(limit: int, seed: int) -> bytes:
    """A JSON body a little over `limit` bytes."""
    padding = random.Random(seed).randint(1, 4096)
    return b'{"type":"event_callback","padding":"' + b"x" * (limit + padding) + b'"}'


def statement_id(seed: int, index: int) -> str:
    """A Statement id (UUID version 4), the same for the same seed and index."""
    return str(uuid.UUID(int=random.Random(seed * 1_000_003 + index).getrandbits(128), version=4))


def valid_statement(seed: int, index: int) -> dict[str, Any]:
    """An LMS's Statement: a learner completed a module of a course."""
    return {
        "id": statement_id(seed, index),
        "actor": {
            "objectType": "Agent",
            "account": {"homePage": "https://lms.faults.example", "name": f"l{index % 89}"},
        },
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "completed"}},
        "object": {
            "objectType": "Activity",
            "id": f"https://lms.faults.example/course/{index % 7}/module/{index % 5}",
            "definition": {"type": "http://adlnet.gov/expapi/activities/module", "name": {"en-US": "Streams"}},
        },
        "context": {
            "contextActivities": {
                "grouping": [
                    {"id": f"https://lms.faults.example/course/{index % 7}", "objectType": "Activity"},
                ]
            }
        },
        "timestamp": f"2026-10-{index % 28 + 1:02d}T10:{index % 60:02d}:00Z",
    }


def invalid_statement_body(seed: int, index: int) -> bytes:
    """A body the LRS must refuse with 400: a Statement breaking one rule of xAPI, keys twice, not JSON at all, or a
    batch of valid Statements with one invalid among them (the whole batch is refused)."""
    rng = random.Random(seed * 7919 + index)
    statement = valid_statement(seed + 1, index)  # ids of their own: none may be stored
    choice = rng.randrange(10)
    if choice == 0:
        del statement["actor"]
    elif choice == 1:
        statement["verb"]["id"] = "completed"  # not an IRI
    elif choice == 2:
        statement["timestamp"] = "yesterday"
    elif choice == 3:
        statement["mood"] = MARKER
    elif choice == 4:
        statement["id"] = "not-a-uuid"
    elif choice == 5:
        statement["result"] = {"score": {"scaled": 1.5}}
    elif choice == 6:
        statement["actor"] = {"objectType": "Agent", "name": MARKER}  # no identifier
    elif choice == 7:
        body = _encode(statement)
        return body.replace(b'"verb":', b'"verb":{"id":"http://adlnet.gov/expapi/verbs/failed"},"verb":', 1)
    elif choice == 8:
        return _encode(statement)[: rng.randrange(1, 200)]
    else:
        batch = [valid_statement(seed + 1, 10_000 + index * 10 + n) for n in range(rng.randint(1, 9))]
        statement["verb"] = {"display": {"en-US": "completed"}}  # no id
        return _encode([*batch, statement])
    return _encode(statement)


def lrs_activity_id(statement: dict[str, Any]) -> str:
    """The activity id of a Statement the LRS stored and published."""
    return activity_id_for("xapi", LRS_INSTANCE, str(statement["id"]))


def lrs_headers(_now: float) -> Headers:
    """The headers of the LMS's requests: its credentials and the xAPI version."""
    basic = base64.b64encode(":".join(LRS_CREDENTIAL).encode()).decode()
    return {**XAPI_VERSION, "Content-Type": "application/json", "Authorization": f"Basic {basic}"}


def no_headers(_now: float) -> Headers:
    """No headers: a body over the limit is refused before its signature is looked at."""
    return {}


def slack_retry_headers(body: bytes, now: float) -> Headers:
    """Slack's retry of an event it got no answer for in time: the same body, signed anew, numbered."""
    return {**slack_headers(body, now), "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}


@dataclass(frozen=True)
class Request:
    """One HTTP request of the run: what it is, where it goes, and the answer it must get."""

    kind: str
    path: str
    body: bytes
    status: int
    headers: Callable[[float], Headers]  # made when sent: Slack's signatures carry the time
    chunked: bool = False  # no Content-Length: the limit must hold while the body is read
    pieces: int = 1  # with its Content-Length, in this many pieces a moment apart (a slow link)
    publishes: int = 0  # records it puts on the raw topic when answered as expected
    valid: int = 0  # valid inputs it carries (events, Statements); a retry carries none of its own

    @property
    def bad(self) -> bool:
        return self.status != 200 or self.kind == RETRY


RETRY = "Slack retry"
SLOW_EVENT = "Slack event in 2 pieces"


def http_requests(seed: int, bad: int, valid: int) -> tuple[list[Request], set[str]]:
    """The HTTP half of a run, about `bad` bad requests and `valid` valid inputs, in the order sent (each retry
    after its event); and the activity ids its valid events and Statements must be stored under. A few valid
    events and batches come in two pieces a moment apart, as over a slow link: they must be taken all the same (a
    receiver that reads only what has arrived when it looks, as aiohttp's `read(n)` returns, cuts them short)."""
    rng = random.Random(seed)
    events = [seed * 100_000 + n for n in range(max(bad // 20, valid // 2))]
    slow_events = set(events[-max(2, bad // 100) :])
    statements = [valid_statement(seed, n) for n in range(valid - len(events))]
    requests = [
        Request(
            SLOW_EVENT if index in slow_events else "Slack event",
            SLACK_PATH,
            body,
            200,
            partial(slack_headers, body),
            publishes=1,
            valid=1,
            pieces=2 if index in slow_events else 1,
        )
        for index, body in zip(events, map(slack_message_event, events), strict=True)
    ]
    for n in range(bad // 10):  # never stored: no signature passes
        body = slack_message_event(seed * 100_000 + 50_000 + n)
        requests.append(Request("wrong signature", SLACK_PATH, body, 401, partial(wrongly_signed, body, seed + n)))
    for n in range(max(2, bad // 50)):
        body = oversized_body(SLACK_BODY_LIMIT, seed + n)
        requests.append(Request("Slack body over the limit", SLACK_PATH, body, 413, no_headers, chunked=n % 2 == 1))
    for start in range(0, len(statements), 10):
        batch, pieces = statements[start : start + 10], 2 if start // 10 % 4 == 3 else 1
        kind = "xAPI batch" if pieces == 1 else "xAPI batch in 2 pieces"
        body = _encode(batch)
        request = Request(
            kind, XAPI_PATH, body, 200, lrs_headers, pieces=pieces, publishes=len(batch), valid=len(batch)
        )
        requests.append(request)
    for n in range(bad // 10):
        requests.append(Request("invalid xAPI", XAPI_PATH, invalid_statement_body(seed, n), 400, lrs_headers))
    for n in range(max(1, bad // 100)):
        body = _encode([valid_statement(seed + 2, 20_000 + n)] * 200)[: LRS_BODY_LIMIT + 1 + n]
        requests.append(Request("xAPI body over the limit", XAPI_PATH, body, 413, lrs_headers, chunked=n % 2 == 1))
    rng.shuffle(requests)
    for index in events[: bad // 20]:
        body = slack_message_event(index)
        first = next(n for n, request in enumerate(requests) if request.body == body)
        retry = Request(RETRY, SLACK_PATH, body, 200, partial(slack_retry_headers, body), publishes=1)
        requests.insert(rng.randint(first + 1, len(requests)), retry)
    ids = {slack_activity_id(index) for index in events} | {lrs_activity_id(item) for item in statements}
    return requests, ids


def in_pieces(body: bytes, pieces: int, pause_s: float = 0.2) -> Iterator[bytes]:
    """A body as a slow link delivers it: in parts, a moment apart."""
    step = -(-len(body) // pieces)
    for start in range(0, len(body), step):
        if start:
            time.sleep(pause_s)
        yield body[start : start + step]


def send_all(client: httpx.Client, requests: list[Request]) -> dict[tuple[str, int, int], tuple[int, str]]:
    """Send each request in turn; the answers that were not the one expected, by kind, status expected and status
    given: how many, and the first one's text."""
    wrong: dict[tuple[str, int, int], tuple[int, str]] = {}
    for request in requests:
        headers = request.headers(time.time())
        content: bytes | Iterator[bytes] = request.body
        if request.chunked:
            content = iter([request.body[i : i + 65_536] for i in range(0, len(request.body), 65_536)])
        elif request.pieces > 1:
            headers["Content-Length"] = str(len(request.body))
            content = in_pieces(request.body, request.pieces)
        answer = client.post(request.path, content=content, headers=headers)
        if answer.status_code != request.status:
            seen, text = wrong.get((request.kind, request.status, answer.status_code), (0, answer.text[:120]))
            wrong[request.kind, request.status, answer.status_code] = (seen + 1, text)
    return wrong


# -- the scenario ---------------------------------------------------------------------------------------------------


def raw_inputs(seed: int, bad: int, valid: int) -> tuple[list[bytes], dict[bytes, BadKind], list[bytes]]:
    """`valid` synthetic activities with `bad` bad ones of every kind interleaved (the capped kinds their number,
    the others in turn); the kind of each bad one's bytes; the valid ones."""
    good = synthetic_activities(valid, seed=seed)
    kinds = [kind for kind in RAW_KINDS if kind.at_most is not None for _ in range(kind.at_most)]
    spread = [kind for kind in RAW_KINDS if kind.at_most is None]
    kinds += [spread[n % len(spread)] for n in range(bad - len(kinds))]
    kinds_of: dict[bytes, BadKind] = {}
    spoilt: list[bytes] = []
    for n, (kind, base) in enumerate(zip(kinds, synthetic_activities(len(kinds), seed=seed + 1), strict=True)):
        line = kind.make(base, seed * 1_000_003 + n)  # a spoilt activity of another stream than the valid ones
        if kinds_of.setdefault(line, kind) is not kind:
            raise ValueError(f"two kinds made the same bytes: {kind.name} and {kinds_of[line].name}")
        spoilt.append(line)
    lines = good + spoilt
    random.Random(seed).shuffle(lines)
    return lines, kinds_of, good


def check_dead_letters(rig: Rig, kinds_of: dict[bytes, BadKind], sent: Counter[str]) -> tuple[list[str], list[str]]:
    """Every dead letter on the topic: each one from a bad raw input, with its kind's reason and a detail that says
    what is wrong without repeating a value; each kind's count exact. The failures, and one sample per kind."""
    from cli.status import read_topic
    from learnstream.kafka import make_reader

    failures: list[str] = []
    found: Counter[str] = Counter()
    samples: dict[str, str] = {}
    reader = make_reader(rig.settings.kafka, "faults-dlq")
    try:
        for record in read_topic(reader, rig.settings.topics.names.activity_dlq, failures):
            letter = DeadLetter.from_bytes(record.value)
            kind = kinds_of.get(letter.original)
            if kind is None or letter.stage != "worker":
                failures.append(f"unexpected dead letter: {letter.stage} {letter.reason.value}: {letter.detail[:100]}")
                continue
            found[kind.name] += 1
            samples.setdefault(kind.name, f"{kind.name} -> {letter.reason.value}: {letter.detail[:110]}")
            if letter.reason is not kind.reason or kind.detail not in letter.detail or MARKER in letter.detail:
                failures.append(f"{kind.name}: {letter.reason.value}: {letter.detail[:160]}")
    finally:
        reader.close()
    failures.extend(
        f"{name}: {found[name]:,} dead letters of {n:,} sent" for name, n in sent.items() if found[name] != n
    )
    return failures, [samples[name] for name in sent if name in samples]


def bad_inputs(work: Path, bootstrap: str | None, size: int) -> Outcome:
    """`size` inputs, a third of them bad, of every kind. First serve's receivers over HTTP: valid Slack events
    and Statements between wrong signatures, Slack's retries, oversized and invalid requests; then the raw topic,
    valid activities streamed with bad records of every kind interleaved."""
    seed, bad = 1300, size // 3
    requests, http_ids = http_requests(seed, bad, (size - bad) // 10)
    http_bad, http_valid = sum(r.bad for r in requests), sum(r.valid for r in requests)
    lines, kinds_of, good = raw_inputs(seed, max(bad - http_bad, len(RAW_KINDS)), size - bad - http_valid)
    sent_kinds = Counter(kinds_of[line].name for line in lines if line in kinds_of)
    expected_dead = Counter(kinds_of[line].reason.value for line in lines if line in kinds_of)
    credentials = json.dumps([{"name": LRS_CREDENTIAL[0], "secret": LRS_CREDENTIAL[1], "scopes": ["write"]}])
    extra = {"LEARNSTREAM_LRS__CREDENTIALS": credentials, "LEARNSTREAM_LRS__MAX_BODY_BYTES": str(LRS_BODY_LIMIT)}
    with Rig(work, bootstrap, label="badin") as rig:
        rig.start_serve(extra_env=extra)
        rig.start_worker()
        raw, dlq = rig.settings.topics.names.activity_raw, rig.settings.topics.names.activity_dlq
        raw_before, dead_before = topic_size(rig, raw), topic_size(rig, dlq)
        with httpx.Client(base_url=rig.serve_url, timeout=120) as client:
            wrong = send_all(client, requests)
        published, dead_from_http = topic_size(rig, raw) - raw_before, topic_size(rig, dlq) - dead_before
        ended = rig.feed(lines, per_second=max(100.0, len(lines) / 10)).finish()
        sent = len(lines) + sum(max(1, r.valid) for r in requests if r.kind != RETRY)
        expected_ids = expected_event_ids(good) | http_ids
        outcome = settle(rig, "bad inputs", sent, expected_ids, ended, dict(expected_dead))
        failures = [
            f"{kind}: {given} x{count:,}, not {expected} ({text!r})"
            for (kind, expected, given), (count, text) in wrong.items()
        ]
        if published != (must := sum(r.publishes for r in requests)):
            failures.append(f"the HTTP requests put {published:,} records on the raw topic, not {must:,}")
        if dead_from_http:
            failures.append(f"the HTTP requests made {dead_from_http:,} dead letters, not 0")
        found = outcome.recovery.dead_letters
        failures.extend(
            f"{found.get(reason, 0):,} dead letters of {reason}, {expected_dead[reason]:,} expected"
            for reason in sorted({*found, *expected_dead})
            if found.get(reason, 0) != expected_dead[reason]
        )
        letters, samples = check_dead_letters(rig, kinds_of, sent_kinds)
        failures.extend(letters)
        refused = Counter(r.status for r in requests if r.status != 200)
        retries, slow = sum(r.kind == RETRY for r in requests), sum(r.pieces > 1 for r in requests)
        notes = [
            f"HTTP: {len(requests):,} requests; 401 x{refused[401]:,} (7 ways of signing wrong), "
            f"413 x{refused[413]:,}, 400 x{refused[400]:,} (invalid xAPI), {retries:,} Slack retries stored once, "
            f"{slow:,} valid requests in 2 pieces; {sum(n for n, _ in wrong.values()):,} answered otherwise; "
            f"raw topic +{published:,} (events, Statements, retries), dead letters +{dead_from_http:,}",
            f"raw topic: {len(lines):,} records, {sum(sent_kinds.values()):,} bad of {len(sent_kinds)} kinds among "
            f"{len(good):,} valid; every dead letter checked for its kind's reason and detail; one of each:",
            *samples,
        ]
        base = {item.name: getattr(outcome, item.name) for item in fields(outcome)}
        return Outcome(**{**base, "notes": notes, "failures": failures[:20]})


SCENARIOS = [
    Scenario(
        "bad-inputs",
        "a third of the inputs bad, of every kind, over HTTP and on the raw topic, mixed with valid ones",
        bad_inputs,
    ),
]
