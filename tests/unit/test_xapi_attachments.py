"""multipart/mixed Statement requests (lrs.attachments), table-driven from the xAPI text and the ADL conformance suite.

Sources in the rows: "Comm 1.5.2.s2.b2.b3" is a numbered requirement of xAPI-Communication.md 1.0.3 (the same text in
xAPI 2.0), "Data 2.4.11" a section of xAPI-Data.md, "RFC 2046 5.1.1" the multipart framing, and "XAPI-nnnnn" a
requirement id that adlnet/lrs-conformance-test-suite checks (test/v1_0_3/H.Communication1.5-ContentTypes.js and
test/v2_0/4.1.3-Content-Types.js build their bodies as the `framed` helper below does).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Any

import pytest

from learnstream.errors import UsageError
from lrs.attachments import AttachmentPart, MultipartError, attachment_violations, parse_multipart, render_multipart

CRLF = b"\r\n"
SUITE_BOUNDARY = "-------314159265358979323846"
SPEC_BOUNDARY = "abcABC0123'()+_,-./:=?"
SIMPLE_TEXT = b"here is a simple attachment"
SIMPLE_SHA256 = "495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a"  # Comm 1.5.2.s6 example
# Octets a text-minded parser would damage: CRLF pairs, bare CR and LF, a near-boundary, NUL, invalid UTF-8.
BINARY = b"\x89PNG\r\n\x1a\n\x00\xff\xfe\r\n--" + SUITE_BOUNDARY.encode() + b"X\r\n\r\n\xc3\x28\r\rtail\r\n"


def sha256(data: bytes) -> str:
    """The hex SHA-256 of some octets."""
    return hashlib.sha256(data).hexdigest()


def attachment(data: bytes, content_type: str = "text/plain", **extra: object) -> dict[str, Any]:
    """Attachment metadata declaring `data` (Data 2.4.11), with extra properties such as fileUrl."""
    meta: dict[str, Any] = {
        "usageType": "http://example.com/attachment-usage/test",
        "display": {"en-US": "A test attachment"},
        "contentType": content_type,
        "length": len(data),
        "sha2": sha256(data),
    }
    return meta | extra


def statement(*attachments: dict[str, Any]) -> dict[str, Any]:
    """A Statement with these attachments (none: no attachments property)."""
    result: dict[str, Any] = {
        "actor": {"mbox": "mailto:sample.agent@example.com"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/answered"},
        "object": {"id": "http://www.example.com/tincan/activities/multipart"},
    }
    if attachments:
        result["attachments"] = list(attachments)
    return result


def part(data: bytes, content_type: str | None = "text/plain", **headers: str) -> AttachmentPart:
    """A received attachment part: binary, hashed with SHA-256 unless a header says otherwise."""
    names = {"content-transfer-encoding": "binary", "x-experience-api-hash": sha256(data)}
    if content_type is not None:
        names["content-type"] = content_type
    for key, value in headers.items():
        name = key.replace("_", "-").lower()
        if value == "":
            names.pop(name, None)
        else:
            names[name] = value
    return AttachmentPart(data, names)


def framed(
    *parts: tuple[list[str], bytes], boundary: str = SUITE_BOUNDARY, preamble: bytes = b"", epilogue: bytes = b""
) -> bytes:
    """A multipart body built by hand as RFC 2046 5.1.1 (and the suite) frames it: each part is (headers, data)."""
    dash = b"--" + boundary.encode("latin-1")
    chunks = [preamble + CRLF if preamble else b""]
    for index, (headers, data) in enumerate(parts):
        chunks += [CRLF if index else b"", dash, CRLF]
        chunks += [header.encode("latin-1") + CRLF for header in headers]
        chunks += [CRLF, data]
    chunks += [CRLF, dash, b"--", epilogue]
    return b"".join(chunks)


def json_part(*statements: dict[str, Any], header: str = "Content-Type: application/json") -> tuple[list[str], bytes]:
    """The Statements part: one Statement as an object, several as an array."""
    body = statements[0] if len(statements) == 1 else list(statements)
    return [header], json.dumps(body).encode()


def data_part(data: bytes, content_type: str = "text/plain", sha2: str | None = None) -> tuple[list[str], bytes]:
    """An attachment part with the headers Comm 1.5.2.s2.b2.b3-b6 ask for."""
    headers = [f"Content-Type: {content_type}", "Content-Transfer-Encoding: binary"]
    return [*headers, f"X-Experience-API-Hash: {sha2 or sha256(data)}"], data


def mixed(boundary: str = SUITE_BOUNDARY) -> str:
    """The request Content-Type the suite sends."""
    return f"multipart/mixed; boundary={boundary}"


# --- parse_multipart: bodies an LRS must accept -----------------------------------------------------------------

SPEC_EXAMPLE_STATEMENT = statement(
    attachment(SIMPLE_TEXT, "text/plain; charset=ascii", description={"en-US": "A test attachment (description)"})
)
#: The example of Comm 1.5.2.s6, as the spec prints it: quoted boundary of every allowed character class, headers
#: without a space after the colon, a blank line (empty preamble) before the first boundary, no final CRLF.
SPEC_EXAMPLE = (
    b"\r\n--abcABC0123'()+_,-./:=?\r\nContent-Type:application/json\r\n\r\n"
    + json.dumps(SPEC_EXAMPLE_STATEMENT, indent=4).encode()
    + b"\r\n--abcABC0123'()+_,-./:=?\r\nContent-Type:text/plain\r\nContent-Transfer-Encoding:binary\r\n"
    + b"X-Experience-API-Hash:"
    + SIMPLE_SHA256.encode()
    + b"\r\n\r\nhere is a simple attachment\r\n--abcABC0123'()+_,-./:=?--"
)

SIGNATURE_LIKE = b"eyJhbGciOiJSUzI1NiJ9.e30.c2ln"
#: (source, Content-Type, body, expected Statements part, expected attachment data in order)
ACCEPTED: list[tuple[str, str, bytes, bytes, list[bytes]]] = [
    (
        "Comm 1.5.2.s6 example",
        f'multipart/mixed; boundary="{SPEC_BOUNDARY}"',
        SPEC_EXAMPLE,
        json.dumps(SPEC_EXAMPLE_STATEMENT, indent=4).encode(),
        [SIMPLE_TEXT],
    ),
    (
        "XAPI-00127 suite body, unquoted boundary, final CRLF",
        mixed(),
        framed(json_part(statement()), data_part(SIMPLE_TEXT), epilogue=CRLF),
        json.dumps(statement()).encode(),
        [SIMPLE_TEXT],
    ),
    (
        "Comm 1.5.2.s6.b3 binary octets kept exactly (CRLF, CR, NUL, invalid UTF-8, a longer --boundaryX line)",
        mixed(),
        framed(json_part(statement()), data_part(BINARY, "image/png")),
        json.dumps(statement()).encode(),
        [BINARY],
    ),
    (
        "RFC 2046 5.1.1 data ending in CRLF keeps it; the delimiter's CRLF is not data",
        mixed(),
        framed(json_part(statement()), data_part(b"line\r\n"), data_part(b"\r\n"), data_part(b"")),
        json.dumps(statement()).encode(),
        [b"line\r\n", b"\r\n", b""],
    ),
    (
        "RFC 2046 5.1.1 preamble and epilogue are ignored",
        mixed(),
        framed(json_part(statement()), data_part(SIMPLE_TEXT), preamble=b"This is a preamble.", epilogue=b"\r\nbye"),
        json.dumps(statement()).encode(),
        [SIMPLE_TEXT],
    ),
    (
        "XAPI-00115 suite signStatement body: leading CRLF, no final CRLF",
        mixed("-------2718281828"),
        b"\r\n" + framed(json_part(statement()), data_part(SIGNATURE_LIKE), boundary="-------2718281828"),
        json.dumps(statement()).encode(),
        [SIGNATURE_LIKE],
    ),
    (
        "Comm 1.5.2.s3.b8 only the Statements part (no attachments, or fileUrl ones)",
        mixed(),
        framed(json_part(statement())),
        json.dumps(statement()).encode(),
        [],
    ),
    (
        "RFC 2045 5.1 parameters in any case and order, quoted boundary, charset on the JSON part",
        'Multipart/Mixed; charset=UTF-8; BOUNDARY="simple boundary"',
        framed(
            json_part(statement(), header="content-type: application/json; charset=UTF-8"),
            data_part(SIMPLE_TEXT),
            boundary="simple boundary",
        ),
        json.dumps(statement()).encode(),
        [SIMPLE_TEXT],
    ),
    (
        "RFC 2046 5.1.1 transport padding after a delimiter",
        mixed("b"),
        b"--b \t\r\nContent-Type: application/json\r\n\r\n{}\r\n--b  \r\nX-Experience-API-Hash: 00\r\n\r\nx"
        b"\r\n--b-- \r\n",
        b"{}",
        [b"x"],
    ),
]


@pytest.mark.parametrize(
    ("source", "content_type", "body", "statements", "data"), ACCEPTED, ids=[row[0] for row in ACCEPTED]
)
def test_parse_accepts(source: str, content_type: str, body: bytes, statements: bytes, data: list[bytes]) -> None:
    parsed = parse_multipart(content_type, body)
    assert parsed.statements == statements
    assert [item.data for item in parsed.attachments] == data


def test_parse_reads_the_part_headers_of_the_spec_example() -> None:
    parsed = parse_multipart(f'multipart/mixed; boundary="{SPEC_BOUNDARY}"', SPEC_EXAMPLE)
    assert parsed.statements_headers == {"content-type": "application/json"}
    (only,) = parsed.attachments
    assert (only.content_type, only.transfer_encoding, only.sha2) == ("text/plain", "binary", SIMPLE_SHA256)
    assert sha256(only.data) == SIMPLE_SHA256
    assert attachment_violations([json.loads(parsed.statements)], parsed.attachments) == []


def test_parse_unfolds_headers_and_takes_a_part_without_headers() -> None:
    body = framed(
        json_part(statement()),
        (["X-Experience-API-Hash:", f"  {sha256(b'a')}", "Content-Type: text/plain;", "\tcharset=ascii"], b"a"),
        ([], b"no headers"),
    )
    first, second = parse_multipart(mixed(), body).attachments
    assert first.sha2 == sha256(b"a")
    assert first.content_type == "text/plain; charset=ascii"
    assert (second.headers, second.data) == ({}, b"no headers")


def test_parse_takes_a_body_with_only_headers() -> None:
    body = framed(json_part(statement()), (["X-Experience-API-Hash: 00"], b""))
    body = body.replace(b"00\r\n\r\n\r\n", b"00\r\n")  # the part ends right after its last header line
    (only,) = parse_multipart(mixed(), body).attachments
    assert (only.sha2, only.data) == ("00", b"")


# --- parse_multipart: bodies an LRS must reject (400) -----------------------------------------------------------

JSON_AND_TEXT = framed(json_part(statement()), data_part(SIMPLE_TEXT))
#: (source, Content-Type, body, words the error message must contain)
MALFORMED: list[tuple[str, str, bytes, str]] = [
    ("XAPI-00127 multipart/form-data", f"multipart/form-data; boundary={SUITE_BOUNDARY}", JSON_AND_TEXT, "form-data"),
    ("Comm 1.5.2 application/json is not parsed as multipart", "application/json", JSON_AND_TEXT, "application/json"),
    ("XAPI-00131 no boundary parameter", "multipart/mixed;", JSON_AND_TEXT, "no boundary parameter"),
    ("XAPI-00131 no boundary parameter at all", "multipart/mixed", JSON_AND_TEXT, "no boundary parameter"),
    ("RFC 2046 5.1.1 boundary longer than 70", mixed("b" * 71), JSON_AND_TEXT, "1 to 70"),
    ("RFC 2046 5.1.1 boundary with a forbidden character", 'multipart/mixed; boundary="a*b"', JSON_AND_TEXT, "1 to 70"),
    ("RFC 2045 5.1 unclosed quote", 'multipart/mixed; boundary="abc', JSON_AND_TEXT, "closing quote"),
    ("RFC 2046 5.1.1 boundary not in the body", mixed("other"), JSON_AND_TEXT, "no boundary line --other"),
    ("RFC 2046 5.1.1 LF line ends", mixed(), JSON_AND_TEXT.replace(CRLF, b"\n"), "must end with CRLF"),
    ("RFC 2046 5.1.1 no close delimiter", mixed(), JSON_AND_TEXT.rsplit(b"--", 1)[0] + CRLF, "close delimiter"),
    ("RFC 2046 5.1.1 truncated body", mixed(), JSON_AND_TEXT[:-40], "close delimiter"),
    ("RFC 2046 5.1.1 a close delimiter and no part", mixed(), f"--{SUITE_BOUNDARY}--\r\n".encode(), "no part"),
    (
        "XAPI-00134 first part text/plain",
        mixed(),
        framed(json_part(statement(), header="Content-Type: text/plain"), data_part(SIMPLE_TEXT)),
        "Content-Type 'text/plain'",
    ),
    (
        "XAPI-00134 first part without Content-Type",
        mixed(),
        framed(([], json.dumps(statement()).encode()), data_part(SIMPLE_TEXT)),
        "no Content-Type header",
    ),
    (
        "XAPI-00131 Statements before the first boundary (a preamble, so the first part is the attachment)",
        mixed(),
        b"Content-Type: application/json\r\n\r\n"
        + json.dumps(statement()).encode()
        + CRLF
        + framed(data_part(SIMPLE_TEXT), epilogue=CRLF),
        "Content-Type 'text/plain'",
    ),
    (
        "RFC 5322 2.2 a header line without a colon",
        mixed(),
        framed(json_part(statement()), (["Content-Type text/plain"], SIMPLE_TEXT)),
        "not 'Name: value'",
    ),
    (
        "RFC 5322 3.6 a header given twice",
        mixed(),
        framed(json_part(statement()), (["X-Experience-API-Hash: a", "x-experience-api-hash: b"], SIMPLE_TEXT)),
        "twice",
    ),
]


@pytest.mark.parametrize(("source", "content_type", "body", "words"), MALFORMED, ids=[row[0] for row in MALFORMED])
def test_parse_rejects(source: str, content_type: str, body: bytes, words: str) -> None:
    with pytest.raises(MultipartError, match=re.escape(words)):
        parse_multipart(content_type, body)


def test_a_multipart_error_is_a_usage_error() -> None:
    assert issubclass(MultipartError, UsageError)


# --- attachment_violations ---------------------------------------------------------------------------------------

TEXT_2 = b"here is another simple attachment"
HEX_PICTURE = BINARY.hex().encode()  # XAPI-00127: the suite sends a JPEG as hex text but declares the file's size
SHA512 = hashlib.sha512(SIMPLE_TEXT).hexdigest()
FILE_URL = {"fileUrl": "http://over.there.com/file.txt"}
SUB = statement(attachment(TEXT_2))
SUB["object"] = {"objectType": "SubStatement", **statement(attachment(SIMPLE_TEXT))}

#: (source, Statements, parts) the LRS must accept.
VALID: list[tuple[str, list[dict[str, Any]], list[AttachmentPart]]] = [
    ("Comm 1.5.2.s3.b4 one Statement, one attachment", [statement(attachment(SIMPLE_TEXT))], [part(SIMPLE_TEXT)]),
    (
        "Comm 1.5.2.s4.b2 a batch with several attachments",
        [statement(attachment(SIMPLE_TEXT), attachment(BINARY, "image/png")), statement(attachment(TEXT_2))],
        [part(SIMPLE_TEXT), part(BINARY, "image/png"), part(TEXT_2)],
    ),
    (
        "Comm 1.5.2.s2.b2.b5 one part for data two Statements share",
        [statement(attachment(SIMPLE_TEXT)), statement(attachment(SIMPLE_TEXT))],
        [part(SIMPLE_TEXT)],
    ),
    (
        "Comm 1.5.2.s2.b2.b5 a repeated part is tolerated (SHOULD)",
        [statement(attachment(SIMPLE_TEXT))],
        [part(SIMPLE_TEXT)] * 2,
    ),
    ("Comm 1.5.1.s1.b2 fileUrl only, application/json", [statement(attachment(SIMPLE_TEXT, **FILE_URL))], []),
    ("Comm 1.5.1.s1.b1 no attachments at all", [statement(), statement()], []),
    ("Comm 1.5.2.s3.b8 multipart/mixed with no attachments", [statement()], []),
    (
        "Comm 1.5.2 a fileUrl attachment may still send its data",
        [statement(attachment(SIMPLE_TEXT, **FILE_URL))],
        [part(SIMPLE_TEXT)],
    ),
    (
        "XAPI-00127 declared length differs from the data (the LRS does not check it)",
        [statement(attachment(HEX_PICTURE, "image/jpeg") | {"length": len(BINARY)})],
        [part(HEX_PICTURE, "image/jpeg")],
    ),
    (
        "Data 2.4.11 sha2 of SHA-512 and SHA-224, any hex case",
        [
            statement(attachment(SIMPLE_TEXT) | {"sha2": SHA512.upper()}),
            statement(attachment(TEXT_2) | {"sha2": hashlib.sha224(TEXT_2).hexdigest()}),
        ],
        [
            part(SIMPLE_TEXT, x_experience_api_hash=SHA512),
            part(TEXT_2, x_experience_api_hash=hashlib.sha224(TEXT_2).hexdigest().upper()),
        ],
    ),
    (
        "Comm 1.5.2.s3.b6 no Content-Transfer-Encoding: binary is assumed",
        [statement(attachment(SIMPLE_TEXT))],
        [part(SIMPLE_TEXT, content_transfer_encoding="")],
    ),
    (
        "Comm 1.5.2.s2.b2.b6 Content-Type is a SHOULD; parameters and case do not count (the spec example)",
        [statement(attachment(SIMPLE_TEXT, "text/plain; charset=ascii")), statement(attachment(TEXT_2))],
        [part(SIMPLE_TEXT, "Text/Plain"), part(TEXT_2, None)],
    ),
    (
        "Comm 1.5.2.s2.b2.b7 a Content-Length equal to the declared length",
        [statement(attachment(SIMPLE_TEXT))],
        [part(SIMPLE_TEXT, content_length=str(len(SIMPLE_TEXT)))],
    ),
    ("Data 2.4.11 attachments of a SubStatement", [SUB], [part(SIMPLE_TEXT), part(TEXT_2)]),
    ("a broken Statement is validation's to report", ["not a statement", {"attachments": "nope"}], []),  # type: ignore[list-item]
]


@pytest.mark.parametrize(("source", "statements", "parts"), VALID, ids=[row[0] for row in VALID])
def test_attachments_accepted(source: str, statements: list[dict[str, Any]], parts: list[AttachmentPart]) -> None:
    assert attachment_violations(statements, parts) == []


ONE = [statement(attachment(SIMPLE_TEXT))]
TWO = [statement(attachment(SIMPLE_TEXT), attachment(TEXT_2))]
OTHER_HASH = "b018994f8bbe0f08992a65c48c8c8c56f09e9baceaa6227ed85c90ae52b73c89"  # the suite's XAPI-00132 value
#: (source, Statements, parts, the (Statement index or None for a part, path, rule) reported)
INVALID: list[tuple[str, list[dict[str, Any]], list[AttachmentPart], set[tuple[int | None, str, str]]]] = [
    (
        "XAPI-00129 a declared attachment has no part",
        TWO,
        [part(SIMPLE_TEXT)],
        {(0, "attachments[1].sha2", "missing-part")},
    ),
    ("Comm 1.5.2.s2.b1 application/json without fileUrl", ONE, [], {(0, "attachments[0].sha2", "missing-part")}),
    (
        "Comm 1.5.2.s3.b5 the second Statement of a batch",
        [statement(), statement(attachment(TEXT_2, **FILE_URL), attachment(SIMPLE_TEXT))],
        [],
        {(1, "attachments[1].sha2", "missing-part")},
    ),
    (
        "Data 2.4.11 a SubStatement's attachment without data",
        [SUB],
        [part(TEXT_2)],
        {(0, "object.attachments[0].sha2", "missing-part")},
    ),
    (
        "XAPI-00128 an excess part no Statement declares",
        TWO,
        [part(SIMPLE_TEXT), part(TEXT_2), part(b"three")],
        {(None, "parts[2]", "undeclared-part")},
    ),
    (
        "XAPI-00132 a part without X-Experience-API-Hash",
        ONE,
        [part(SIMPLE_TEXT, x_experience_api_hash="")],
        {(None, "parts[0]", "hash-header"), (0, "attachments[0].sha2", "missing-part")},
    ),
    (
        "XAPI-00132 X-Experience-API-Hash does not match sha2",
        ONE,
        [part(SIMPLE_TEXT, x_experience_api_hash=OTHER_HASH)],
        {
            (None, "parts[0]", "hash-mismatch"),
            (None, "parts[0]", "undeclared-part"),
            (0, "attachments[0].sha2", "missing-part"),
        },
    ),
    (
        "Comm 1.5.2.s1.b4 the data does not hash to its header",
        ONE,
        [AttachmentPart(SIMPLE_TEXT + b"!", part(SIMPLE_TEXT).headers)],
        {(None, "parts[0]", "hash-mismatch")},
    ),
    (
        "Comm 1.5.2.s1.b4 data sent as base64 no longer hashes",
        ONE,
        [AttachmentPart(b"aGVyZSBpcyBhIHNpbXBsZSBhdHRhY2htZW50", part(SIMPLE_TEXT).headers)],
        {(None, "parts[0]", "hash-mismatch")},
    ),
    (
        "XAPI-00135 Content-Transfer-Encoding base64",
        ONE,
        [part(SIMPLE_TEXT, content_transfer_encoding="base64")],
        {(None, "parts[0]", "transfer-encoding")},
    ),
    (
        "Comm 1.5.2.s2.b2.b4 Content-Transfer-Encoding 8bit",
        ONE,
        [part(SIMPLE_TEXT, content_transfer_encoding="8bit")],
        {(None, "parts[0]", "transfer-encoding")},
    ),
    (
        "Data 2.4.11 X-Experience-API-Hash not a SHA-2 hex digest",
        ONE,
        [part(SIMPLE_TEXT, x_experience_api_hash=hashlib.sha1(SIMPLE_TEXT).hexdigest())],
        {(None, "parts[0]", "hash-header"), (0, "attachments[0].sha2", "missing-part")},
    ),
    (
        "XAPI-00133 Statements split over a second application/json part",
        ONE,
        [AttachmentPart(json.dumps(ONE[0]).encode(), {"content-type": "application/json"}), part(SIMPLE_TEXT)],
        {(None, "parts[0]", "hash-header")},
    ),
    (
        "Comm 1.5.2.s2.b2.b7 Content-Type differs from contentType",
        ONE,
        [part(SIMPLE_TEXT, "image/png")],
        {(None, "parts[0]", "part-content-type")},
    ),
    (
        "Comm 1.5.2.s2.b2.b7 Content-Length differs from length",
        ONE,
        [part(SIMPLE_TEXT, content_length="99")],
        {(None, "parts[0]", "part-length")},
    ),
    (
        "Comm 1.5.2.s2.b2.b7 Content-Length not a number",
        ONE,
        [part(SIMPLE_TEXT, content_length="many")],
        {(None, "parts[0]", "part-length")},
    ),
]


@pytest.mark.parametrize(("source", "statements", "parts", "expected"), INVALID, ids=[row[0] for row in INVALID])
def test_attachments_rejected(
    source: str,
    statements: list[dict[str, Any]],
    parts: list[AttachmentPart],
    expected: set[tuple[int | None, str, str]],
) -> None:
    violations = attachment_violations(statements, parts)
    assert {(index, violation.path, violation.rule) for index, violation in violations} == expected
    assert all(violation.message.endswith(".") for _, violation in violations)


def test_a_violation_names_the_part_and_the_hashes() -> None:
    ((_, violation),) = attachment_violations(ONE, [AttachmentPart(b"other", part(SIMPLE_TEXT).headers)])
    assert "attachment part 1 (part 2 of the multipart body)" in violation.message
    assert sha256(b"other") in violation.message and SIMPLE_SHA256 in violation.message


def suite_body(*lines: bytes) -> bytes:
    """A body joined as the suite's Content-Types tests join theirs: lines ending in CRLF."""
    return b"".join(line + CRLF for line in lines)


DASH = b"--" + SUITE_BOUNDARY.encode()
STATEMENT_JSON = json.dumps(ONE[0]).encode()
ATTACHMENT_HEADERS = [
    b"Content-Type: text/plain",
    b"Content-Transfer-Encoding: binary",
    b"X-Experience-API-Hash: " + SIMPLE_SHA256.encode(),
]
#: (source, body as the suite builds it, problems an LRS finds: "json" when the Statements cannot be read, else rules)
SUITE_BODIES: list[tuple[str, bytes, set[str]]] = [
    (
        "XAPI-00127 raw data in multipart/mixed is accepted",
        suite_body(
            DASH,
            b"Content-Type: application/json",
            b"",
            STATEMENT_JSON,
            DASH,
            *ATTACHMENT_HEADERS,
            b"",
            SIMPLE_TEXT,
            DASH + b"--",
        ),
        set(),
    ),
    (
        "XAPI-00130 no boundary before the attachment's headers",
        suite_body(
            DASH,
            b"Content-Type: application/json",
            b"",
            STATEMENT_JSON,
            *ATTACHMENT_HEADERS,
            b"",
            SIMPLE_TEXT,
            DASH + b"--",
        ),
        {"json", "missing-part"},
    ),
]


@pytest.mark.parametrize(("source", "body", "expected"), SUITE_BODIES, ids=[row[0] for row in SUITE_BODIES])
def test_suite_bodies_end_to_end(source: str, body: bytes, expected: set[str]) -> None:
    parsed = parse_multipart(mixed(), body)
    problems: set[str] = set()
    try:
        statements = [json.loads(parsed.statements)]
    except ValueError:
        problems.add("json")
        statements = ONE  # what the client meant: its attachment still has no part
    problems |= {violation.rule for _, violation in attachment_violations(statements, parsed.attachments)}
    assert problems == expected


# --- render_multipart ----------------------------------------------------------------------------------------------


def test_render_round_trips_binary_data() -> None:
    statements = json.dumps({"statements": [statement(attachment(BINARY, "image/png"), attachment(SIMPLE_TEXT))]})
    parts = [AttachmentPart.for_data(BINARY, sha256(BINARY), "image/png"), part(SIMPLE_TEXT)]
    content_type, body = render_multipart(statements.encode(), parts)
    parsed = parse_multipart(content_type, body)
    assert parsed.statements == statements.encode()
    assert [(item.data, item.content_type) for item in parsed.attachments] == [
        (BINARY, "image/png"),
        (SIMPLE_TEXT, "text/plain"),
    ]
    assert attachment_violations(json.loads(parsed.statements)["statements"], parsed.attachments) == []


def test_render_writes_the_headers_the_spec_and_the_suite_read() -> None:
    statements = json.dumps(statement(attachment(SIMPLE_TEXT))).encode()
    content_type, body = render_multipart(statements, [part(SIMPLE_TEXT)])
    # The suite splits the Content-Type on ";" and strips " boundary=" (v1_0_3 H.Communication2.1, XAPI-00161).
    media, parameter = content_type.split(";")
    assert media == "multipart/mixed"
    boundary = parameter.replace(" boundary=", "")
    assert re.fullmatch(r"[0-9A-Za-z]{1,70}", boundary)  # the suite puts the boundary into a regex
    assert body == (
        f"--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode()
        + statements
        + f"\r\n--{boundary}\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n"
        f"X-Experience-API-Hash: {SIMPLE_SHA256}\r\n\r\n".encode()
        + SIMPLE_TEXT
        + f"\r\n--{boundary}--\r\n".encode()
    )


def test_render_sends_shared_data_once() -> None:
    # XAPI-00167 counts each hash twice in a GET answer: once in the Statement, once in its part's header.
    statements = json.dumps(statement(attachment(SIMPLE_TEXT))).encode()
    _, body = render_multipart(
        statements, [part(SIMPLE_TEXT), part(SIMPLE_TEXT, x_experience_api_hash=SIMPLE_SHA256.upper())]
    )
    assert body.count(SIMPLE_SHA256.encode()) == 2  # the first part's hash, as given
    assert SIMPLE_SHA256.upper().encode() not in body
    assert body.count(SIMPLE_TEXT) == 1


def test_render_picks_a_fresh_boundary_that_no_data_contains(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = uuid.UUID(int=1)
    data = b"before --" + taken.hex.encode() + b" after"
    fresh = iter([taken, uuid.UUID(int=2)])
    monkeypatch.setattr("lrs.attachments.uuid.uuid4", lambda: next(fresh))
    content_type, body = render_multipart(b"{}", [part(data)])
    assert content_type == f"multipart/mixed; boundary={uuid.UUID(int=2).hex}"
    assert parse_multipart(content_type, body).attachments[0].data == data


def test_render_uses_a_new_boundary_each_time() -> None:
    assert render_multipart(b"{}", [])[0] != render_multipart(b"{}", [])[0]


@pytest.mark.parametrize(
    ("bad_part", "words"),
    [
        (AttachmentPart(b"x", {"content-type": "text/plain"}), "no X-Experience-API-Hash"),
        (AttachmentPart.for_data(b"x", sha256(b"x"), "text/plain\r\nX-Injected: 1"), "cannot be a header"),
    ],
)
def test_render_refuses_parts_it_cannot_frame(bad_part: AttachmentPart, words: str) -> None:
    with pytest.raises(MultipartError, match=words):
        render_multipart(b"{}", [bad_part])


def test_a_part_without_content_type_is_sent_as_octets() -> None:
    content_type, body = render_multipart(b"{}", [AttachmentPart(b"x", {"x-experience-api-hash": sha256(b"x")})])
    assert parse_multipart(content_type, body).attachments[0].content_type == "application/octet-stream"
