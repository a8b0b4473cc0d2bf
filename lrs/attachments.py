"""Statement Attachments in multipart/mixed bodies (xAPI 1.0.3 Communication 1.5.2, Data 2.4.11; xAPI 2.0 alike).

Pure functions over bytes: `parse_multipart` splits a PUT/POST body into its Statements part and its attachment
parts (RFC 2046 framing, raw octets kept as sent); `attachment_violations` checks the parts against the
Statements' attachment metadata; `render_multipart` builds the body of a GET with attachments=true. Nothing here
decodes, normalises newlines in or stores attachment data.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from learnstream.errors import UsageError
from lrs.validation import Violation

HASH_HEADER = "x-experience-api-hash"
TRANSFER_ENCODING_HEADER = "content-transfer-encoding"
CONTENT_TYPE_HEADER = "content-type"

#: The SHA-2 function a hex digest of each length comes from (Data 2.4.11: sha2 is "the SHA-2 hash").
SHA2_BY_HEX_LENGTH = {56: "sha224", 64: "sha256", 96: "sha384", 128: "sha512"}

_CRLF = b"\r\n"
# RFC 2045 5.1: a parameter value is a token or a quoted-string; quoted pairs (\") may occur inside the quotes.
_PARAMETER = re.compile(r';\s*([^\s;=]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
# RFC 2046 5.1.1: 1 to 70 of these characters, the last not a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_HEX = re.compile(r"[0-9a-fA-F]+")
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 2.2: printable ASCII except the colon


class MultipartError(UsageError):
    """A multipart/mixed Statement request is not framed as RFC 2046 and xAPI require; the message says where."""


@dataclass(frozen=True)
class AttachmentPart:
    """One attachment's raw octets and the headers of its part (names in lower case), as received or to send."""

    data: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def for_data(cls, data: bytes, sha2: str, content_type: str) -> AttachmentPart:
        """A part to send: the headers Communication 1.5.2.s2.b2 asks for (Content-Type, binary, the hash)."""
        headers = {CONTENT_TYPE_HEADER: content_type, TRANSFER_ENCODING_HEADER: "binary", HASH_HEADER: sha2}
        return cls(data, headers)

    @property
    def sha2(self) -> str | None:
        """The X-Experience-API-Hash header: the SHA-2 of the data, matched against an attachment's sha2."""
        return self.headers.get(HASH_HEADER)

    @property
    def content_type(self) -> str | None:
        """The part's Content-Type header, if it has one."""
        return self.headers.get(CONTENT_TYPE_HEADER)

    @property
    def transfer_encoding(self) -> str | None:
        """The part's Content-Transfer-Encoding header, if it has one (xAPI allows only binary)."""
        return self.headers.get(TRANSFER_ENCODING_HEADER)


@dataclass(frozen=True)
class Multipart:
    """A parsed multipart/mixed Statement request: the JSON of the first part and the attachment parts after it."""

    statements: bytes
    statements_headers: Mapping[str, str]
    attachments: tuple[AttachmentPart, ...]


def parse_multipart(content_type: str, body: bytes) -> Multipart:
    """Split a multipart/mixed body at its boundary (RFC 2046 5.1.1); raise MultipartError when it is malformed."""
    boundary = _boundary(content_type)
    parts = [_part(raw, number) for number, raw in enumerate(_split(body, boundary.encode("latin-1")), start=1)]
    if not parts:
        raise MultipartError(
            f"the multipart/mixed body has no part before its close delimiter --{boundary}--; "
            "its first part must hold the Statements as application/json"
        )
    headers, statements = parts[0]
    first_type = headers.get(CONTENT_TYPE_HEADER)
    if first_type is None or media_type(first_type) != "application/json":
        shown = "no Content-Type header" if first_type is None else f"Content-Type {first_type!r}"
        raise MultipartError(
            f"the first part of the multipart/mixed body has {shown}; it must hold the Statements with "
            "Content-Type: application/json (xAPI Communication 1.5.2.s2.b2.b1)"
        )
    attachments = tuple(AttachmentPart(data, part_headers) for part_headers, data in parts[1:])
    return Multipart(statements, headers, attachments)


def attachment_violations(
    statements: Sequence[object], parts: Sequence[AttachmentPart]
) -> list[tuple[int | None, Violation]]:
    """What is wrong between a batch's attachment metadata and its parts, by Statement index (None: a part's own).

    `parts` is empty for an application/json request: then every attachment needs a fileUrl (1.5.2.s2.b1).
    """
    declared = list(_declared(statements))
    found: list[tuple[int | None, Violation]] = []
    part_hashes = {part.sha2.strip().lower() for part in parts if part.sha2 is not None}
    for index, path, attachment in declared:
        sha2 = attachment.get("sha2")
        if "fileUrl" not in attachment and isinstance(sha2, str) and sha2.lower() not in part_hashes:
            message = (
                f"attachment with sha2 {sha2} has no fileUrl and no part with that X-Experience-API-Hash; send its "
                "data as a part of a multipart/mixed request or give a fileUrl (Communication 1.5.2.s3.b5)."
            )
            found.append((index, Violation(f"{path}.sha2", "missing-part", message)))
    by_hash: dict[str, list[Mapping[str, object]]] = {}
    for _, _, attachment in declared:
        if isinstance(attachment.get("sha2"), str):
            by_hash.setdefault(str(attachment["sha2"]).lower(), []).append(attachment)
    for number, part in enumerate(parts):
        found.extend((None, violation) for violation in _part_violations(number, part, by_hash))
    return found


def render_multipart(statements_json: bytes, parts: Sequence[AttachmentPart]) -> tuple[str, bytes]:
    """The Content-Type and body of a multipart/mixed answer: the Statements, then each attachment's data once."""
    unique: dict[str, AttachmentPart] = {}
    for number, part in enumerate(parts, start=2):
        if part.sha2 is None:
            raise MultipartError(f"part {number} of the multipart body has no X-Experience-API-Hash to send")
        unique.setdefault(part.sha2.lower(), part)  # Communication 1.5.2.s2.b2.b5: one copy of shared data
    boundary = uuid.uuid4().hex
    # Alphanumeric only: some clients (the ADL conformance suite among them) use the boundary in a regex.
    while any(b"--" + boundary.encode() in chunk for chunk in (statements_json, *(p.data for p in unique.values()))):
        boundary = uuid.uuid4().hex
    dash_boundary = b"--" + boundary.encode()
    chunks = [dash_boundary, _CRLF, b"Content-Type: application/json", _CRLF, _CRLF, statements_json]
    for number, part in enumerate(unique.values(), start=2):
        sha2 = str(part.sha2)  # sent as given, so that it reads as the Statement's sha2 does
        content_type = part.content_type or "application/octet-stream"
        for name, value in (("Content-Type", content_type), ("X-Experience-API-Hash", sha2)):
            if any(ord(char) < 32 or ord(char) > 126 for char in value):
                raise MultipartError(f"part {number} of the multipart body: {name} {value!r} cannot be a header")
        headers = f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: binary\r\nX-Experience-API-Hash: {sha2}"
        chunks += [_CRLF, dash_boundary, _CRLF, headers.encode("ascii"), _CRLF, _CRLF, part.data]
    chunks += [_CRLF, dash_boundary, b"--", _CRLF]
    return f"multipart/mixed; boundary={boundary}", b"".join(chunks)


def media_type(content_type: str) -> str:
    """The type/subtype of a Content-Type value, in lower case and without parameters ("text/plain")."""
    return content_type.split(";", 1)[0].strip().lower()


def sha2_hexdigest(data: bytes, like: str) -> str | None:
    """The SHA-2 digest of `data` by the function whose digest is as long as the hex string `like`, or None."""
    name = SHA2_BY_HEX_LENGTH.get(len(like))
    return hashlib.new(name, data).hexdigest() if name and _HEX.fullmatch(like) else None


def _boundary(content_type: str) -> str:
    """The boundary parameter of a multipart/mixed Content-Type, unquoted; MultipartError for any other type."""
    if media_type(content_type) != "multipart/mixed":
        raise MultipartError(
            f"Content-Type {content_type!r} cannot carry Statements with attachments; send application/json, "
            "or multipart/mixed with a boundary parameter (xAPI Communication 1.5.2)"
        )
    parameters = {name.lower(): value.strip() for name, value in _PARAMETER.findall(content_type)}
    boundary = parameters.get("boundary")
    if boundary is None:
        raise MultipartError(f"Content-Type {content_type!r} has no boundary parameter; RFC 2046 requires one")
    if boundary.startswith('"'):
        if len(boundary) < 2 or not boundary.endswith('"'):
            raise MultipartError(f"Content-Type {content_type!r} has a boundary with no closing quote")
        boundary = re.sub(r"\\(.)", r"\1", boundary[1:-1])
    if not _BOUNDARY.fullmatch(boundary):
        raise MultipartError(
            f"the boundary {boundary!r} is not 1 to 70 of the characters RFC 2046 5.1.1 allows "
            "(letters, digits, '()+_,-./:=? and inner spaces)"
        )
    return boundary


def _split(body: bytes, boundary: bytes) -> Iterator[bytes]:
    """The encapsulated parts between the delimiter lines; preamble and epilogue are dropped (RFC 2046 5.1.1)."""
    framed = _CRLF + body  # the first dash-boundary may start the body: the same search finds it
    delimiter = _CRLF + b"--" + boundary
    found = _delimiter(framed, delimiter, 0)
    if found is None:
        hint = " (delimiter lines must end with CRLF)" if b"--" + boundary in body else ""
        raise MultipartError(f"the body has no boundary line --{boundary.decode('latin-1')}{hint}; RFC 2046 5.1.1")
    _, start, closed = found
    while not closed:
        found = _delimiter(framed, delimiter, start)
        if found is None:
            raise MultipartError(
                f"the body does not end with the close delimiter --{boundary.decode('latin-1')}-- (RFC 2046 5.1.1)"
            )
        end, next_start, closed = found
        yield framed[start:end]
        start = next_start


def _delimiter(framed: bytes, delimiter: bytes, start: int) -> tuple[int, int, bool] | None:
    """The next delimiter line at or after `start`: where it begins, where the next part starts, whether it closes."""
    position = framed.find(delimiter, start)
    while position >= 0:
        after = position + len(delimiter)
        closed = framed.startswith(b"--", after)
        end_of_line = after + 2 if closed else after
        while framed[end_of_line : end_of_line + 1] in (b" ", b"\t"):  # transport padding
            end_of_line += 1
        if framed.startswith(_CRLF, end_of_line):
            return position, end_of_line + 2, closed
        if closed and end_of_line == len(framed):
            return position, end_of_line, closed
        # "--boundaryX" is a longer line, not this delimiter; RFC 2046 lets a line only start with the boundary here.
        position = framed.find(delimiter, position + 1)
    return None


def _part(raw: bytes, number: int) -> tuple[dict[str, str], bytes]:
    """The headers (lower-case names, unfolded) and the untouched body octets of one encapsulated part."""
    if not raw or raw.startswith(_CRLF):
        return {}, raw[2:]  # no headers: RFC 2046 5.1 defaults them (text/plain; charset=us-ascii)
    head, separator, data = raw.partition(_CRLF + _CRLF)
    lines: list[str] = []
    for line in head.decode("latin-1").split("\r\n"):
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += " " + line.strip()  # RFC 5322 2.2.3 folding
        else:
            lines.append(line)
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not _HEADER_NAME.fullmatch(name.strip()):
            raise MultipartError(
                f"part {number} of the multipart body has the header line {line[:80]!r}, which is not 'Name: value'; "
                "end the headers with an empty line (CRLF CRLF) before the data"
            )
        key = name.strip().lower()
        if key in headers:
            raise MultipartError(f"part {number} of the multipart body has the header {name.strip()} twice")
        headers[key] = value.strip()
    return headers, data if separator else b""


def _declared(statements: Sequence[object]) -> Iterator[tuple[int, str, Mapping[str, object]]]:
    """Each attachment object of a batch, with its Statement's index and path, SubStatements' own included."""
    for index, statement in enumerate(statements):
        if not isinstance(statement, Mapping):
            continue
        sources: list[tuple[str, object]] = [("", statement)]
        target = statement.get("object")
        if isinstance(target, Mapping) and target.get("objectType") == "SubStatement":
            sources.append(("object.", target))
        for prefix, source in sources:
            attachments = source.get("attachments") if isinstance(source, Mapping) else None
            if isinstance(attachments, list):
                for position, attachment in enumerate(attachments):
                    if isinstance(attachment, Mapping):
                        yield index, f"{prefix}attachments[{position}]", attachment


def _part_violations(
    number: int, part: AttachmentPart, by_hash: Mapping[str, list[Mapping[str, object]]]
) -> Iterator[Violation]:
    """The violations of one attachment part against the attachments that declare its hash."""
    path = f"parts[{number}]"
    where = f"attachment part {number + 1} (part {number + 2} of the multipart body)"
    encoding = part.transfer_encoding
    # Communication 1.5.2.s3.b6: an LRS SHOULD assume binary when the header is missing; anything else is refused.
    if encoding is not None and encoding.lower() != "binary":
        message = (
            f"{where} has Content-Transfer-Encoding {encoding!r}; xAPI sends raw octets: use binary (1.5.2.s2.b2.b4)."
        )
        yield Violation(path, "transfer-encoding", message)
    if part.sha2 is None:
        message = f"{where} has no X-Experience-API-Hash header; give the SHA-2 of its data (1.5.2.s2.b2.b3)."
        yield Violation(path, "hash-header", message)
        return
    sha2 = part.sha2.strip()
    digest = sha2_hexdigest(part.data, sha2)
    if digest is None:
        message = f"{where} has X-Experience-API-Hash {sha2!r}, not the hex digits of a SHA-224/256/384/512 hash."
        yield Violation(path, "hash-header", message)
        return
    if digest != sha2.lower():
        function = SHA2_BY_HEX_LENGTH[len(sha2)].upper()
        message = (
            f"the data of {where} has the {function} {digest}, not its X-Experience-API-Hash {sha2}; send the raw "
            "octets unencoded or correct the hash (Communication 1.5.2.s1.b4)."
        )
        yield Violation(path, "hash-mismatch", message)
    declarations = by_hash.get(sha2.lower())
    if not declarations:
        message = (
            f"{where} has X-Experience-API-Hash {sha2}, which no Statement declares as an attachment's sha2; "
            "remove the part or declare the attachment (Communication 1.5.2.s2.b2.b2)."
        )
        yield Violation(path, "undeclared-part", message)
        return
    yield from _matching_properties(path, where, part, declarations)


def _matching_properties(
    path: str, where: str, part: AttachmentPart, declarations: list[Mapping[str, object]]
) -> Iterator[Violation]:
    """Communication 1.5.2.s2.b2.b7: headers that have an attachment property must match it (one declaration)."""
    if part.content_type is not None:
        declared = {media_type(str(item["contentType"])) for item in declarations if "contentType" in item}
        # The media type is compared without parameters: the spec's own example sends text/plain for a contentType
        # of "text/plain; charset=ascii".
        if declared and media_type(part.content_type) not in declared:
            message = (
                f"{where} has Content-Type {part.content_type!r} but its attachment declares contentType "
                f"{sorted(declared)[0]!r}; they must match (Communication 1.5.2.s2.b2.b7)."
            )
            yield Violation(path, "part-content-type", message)
    length_header = part.headers.get("content-length")
    if length_header is not None:
        lengths = {length for item in declarations if type(length := item.get("length")) is int}
        if not length_header.isdigit() or (lengths and int(length_header) not in lengths):
            message = (
                f"{where} has Content-Length {length_header!r} but its attachment declares length "
                f"{sorted(lengths)[0] if lengths else 'none'}; they must match (Communication 1.5.2.s2.b2.b7)."
            )
            yield Violation(path, "part-length", message)
