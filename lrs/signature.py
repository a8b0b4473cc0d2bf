"""Signed Statements (xAPI 1.0.3 Data 2.6; the same in xAPI 2.0): checking the JWS an LRS receives as an attachment.

A Statement is signed by an attachment of usageType `SIGNATURE` whose part holds a JSON Web Signature (RFC 7515).
The LRS must reject (400) a JWS that is malformed, uses an algorithm other than RS256/RS384/RS512, whose payload is
not logically equivalent to the Statement (Data 2.3.1 Statement comparison), or, when its header carries an X.509
chain (x5c), whose signature the first certificate's key does not verify. The certificate itself is not judged:
the spec calls this check a way "to catch mistakes in the signature, not a security measure" (Data 2.6.s5).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from lrs.attachments import AttachmentPart
from lrs.comparison import statement_differences
from lrs.validation import SIGNATURE, Violation

#: The JWS algorithms Data 2.6.s4.b4 allows, with the hash each signs with (RSASSA-PKCS1-v1_5, RFC 7518 3.3).
ALGORITHMS: dict[str, type[hashes.HashAlgorithm]] = {
    "RS256": hashes.SHA256,
    "RS384": hashes.SHA384,
    "RS512": hashes.SHA512,
}

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


@dataclass(frozen=True)
class _Signature:
    """One signature of a JWS: its header, the signing input and the signature octets."""

    header: Mapping[str, Any]
    signing_input: bytes
    signature: bytes


class _Malformed(Exception):
    """A JWS that cannot be decoded; the message says which part is wrong (caught in this module)."""


def signature_violations(statement: Mapping[str, Any], jws: bytes, *, path: str = "attachments") -> list[Violation]:
    """What is wrong with `jws`, the signature part of `statement` (Data 2.6.s5); [] for a well-formed signature."""
    try:
        payload, signatures = _decode(jws)
    except _Malformed as exc:
        return [Violation(path, "signature-format", f"the JWS signature is malformed: {exc} (Data 2.6.s4.b1).")]
    found: list[Violation] = []
    for signature in signatures:
        found.extend(_signature_violations(signature, path))
    found.extend(_payload_violations(statement, payload, path))
    return found


def batch_signature_violations(
    statements: Sequence[object], parts: Sequence[AttachmentPart]
) -> list[tuple[int, Violation]]:
    """The signature violations of a batch by Statement index, pairing signature attachments with parts by sha2."""
    by_hash = {part.sha2.strip().lower(): part for part in parts if part.sha2 is not None}
    found: list[tuple[int, Violation]] = []
    for index, statement in enumerate(statements):
        if not isinstance(statement, Mapping) or not isinstance(statement.get("attachments"), list):
            continue
        for position, attachment in enumerate(statement["attachments"]):
            if not isinstance(attachment, Mapping) or attachment.get("usageType") != SIGNATURE:
                continue
            path = f"attachments[{position}]"
            sha2 = attachment.get("sha2")
            part = by_hash.get(sha2.lower()) if isinstance(sha2, str) else None
            if part is None:
                # XAPI-00115: a signature attachment must come with its JWS, even when it also names a fileUrl.
                message = (
                    f"the signature attachment (sha2 {sha2}) has no part with that X-Experience-API-Hash; send the "
                    "JWS as a part of the multipart/mixed request (Data 2.6.s4.b1)."
                )
                found.append((index, Violation(f"{path}.sha2", "signature-missing", message)))
                continue
            found.extend((index, violation) for violation in signature_violations(statement, part.data, path=path))
    return found


def _decode(jws: bytes) -> tuple[bytes, list[_Signature]]:
    """The payload octets and the signatures of a JWS in compact or (discouraged, Data 2.6.s4.b2) JSON form."""
    try:
        text = jws.decode("ascii").strip()
    except UnicodeDecodeError:
        raise _Malformed("it is not ASCII text; a compact JWS is three base64url segments joined by dots") from None
    if text.startswith("{"):
        return _decode_json(text)
    segments = text.split(".")
    if len(segments) != 3:
        raise _Malformed(f"it has {len(segments)} dot-separated segments; compact serialization has three")
    protected, payload, signature = segments
    header = _header(protected, "header")
    return _base64url(payload, "payload"), [
        _Signature(header, f"{protected}.{payload}".encode("ascii"), _base64url(signature, "signature"))
    ]


def _decode_json(text: str) -> tuple[bytes, list[_Signature]]:
    """A JWS in general or flattened JSON serialization (RFC 7515 7.2)."""
    try:
        document = json.loads(text)
    except ValueError:
        raise _Malformed("it starts with '{' but is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("payload"), str):
        raise _Malformed("its JSON serialization has no payload string")
    entries = document.get("signatures", [document])
    if not isinstance(entries, list) or not entries or not all(isinstance(entry, dict) for entry in entries):
        raise _Malformed("its JSON serialization has no signatures")
    payload_segment: str = document["payload"]
    payload = _base64url(payload_segment, "payload")  # first: it must be ASCII before it joins a signing input
    signatures = []
    for entry in entries:
        protected = entry.get("protected", "")
        unprotected = entry.get("header", {})
        if (
            not isinstance(protected, str)
            or not isinstance(unprotected, dict)
            or not isinstance(entry.get("signature"), str)
        ):
            raise _Malformed("a signature of its JSON serialization lacks a string signature or has a bad header")
        header = _header(protected, "protected header") if protected else {}
        if set(header) & set(unprotected):
            raise _Malformed("a header parameter is both protected and unprotected (RFC 7515 7.2.1)")
        signing_input = f"{protected}.{payload_segment}".encode("ascii")
        signatures.append(_Signature(header | unprotected, signing_input, _base64url(entry["signature"], "signature")))
    return payload, signatures


def _base64url(segment: str, name: str) -> bytes:
    """The octets of one base64url segment without padding (RFC 7515 2), or _Malformed naming the segment."""
    if not _BASE64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise _Malformed(f"its {name} is not base64url (RFC 7515 2: A-Z a-z 0-9 - _, no padding)")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _header(segment: str, name: str) -> dict[str, Any]:
    """The JSON object of a header segment."""
    try:
        header = json.loads(_base64url(segment, name).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _Malformed(f"its {name} is not a base64url-encoded JSON object") from None
    if not isinstance(header, dict):
        raise _Malformed(f"its {name} is not a JSON object")
    return header


def _signature_violations(signature: _Signature, path: str) -> Iterator[Violation]:
    """The algorithm, critical extensions and, with an x5c chain, the signature itself (Data 2.6.s5.b3)."""
    algorithm = signature.header.get("alg")
    if algorithm not in ALGORITHMS:
        used = "has no alg" if algorithm is None else f"uses the algorithm {algorithm!r}"
        message = f"the JWS header {used}; xAPI allows only RS256, RS384 or RS512 (Data 2.6.s4.b4)."
        yield Violation(path, "signature-algorithm", message)
        return
    if "crit" in signature.header:
        # RFC 7515 4.1.11: a recipient must reject extensions it does not understand; this LRS understands none.
        listed = signature.header["crit"]
        message = (
            f"the JWS header lists critical extensions {listed!r}, which this LRS does not support (RFC 7515 4.1.11)."
        )
        yield Violation(path, "signature-format", message)
        return
    if "x5c" not in signature.header:
        return  # nothing to verify against: Data 2.6.s4.b6 makes the certificate chain a SHOULD
    try:
        key = _first_certificate_key(signature.header["x5c"])
    except _Malformed as exc:
        yield Violation(path, "signature-format", f"the JWS header's x5c {exc} (RFC 7515 4.1.6).")
        return
    try:
        key.verify(signature.signature, signature.signing_input, padding.PKCS1v15(), ALGORITHMS[algorithm]())
    except InvalidSignature:
        message = (
            "the JWS signature does not verify with the public key of the first certificate in its x5c header; "
            "sign the header and payload with that certificate's private key (Data 2.6.s5.b3.b3)."
        )
        yield Violation(path, "signature-verification", message)


def _first_certificate_key(chain: object) -> rsa.RSAPublicKey:
    """The RSA public key of the first certificate of an x5c chain (base64 DER, RFC 7515 4.1.6)."""
    if not isinstance(chain, list) or not chain or not isinstance(chain[0], str):
        raise _Malformed("is not a non-empty array of base64 certificates")
    try:
        certificate = x509.load_der_x509_certificate(base64.b64decode(chain[0], validate=True))
        key = certificate.public_key()
    except (binascii.Error, ValueError, UnsupportedAlgorithm):
        raise _Malformed("first entry is not a base64 DER X.509 certificate with a key this LRS can read") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise _Malformed("first certificate has no RSA key, which RS256/RS384/RS512 need")
    return key


def _payload_violations(statement: Mapping[str, Any], payload: bytes, path: str) -> Iterator[Violation]:
    """The payload must be the JSON of the Statement as it was before the signature was added (Data 2.6.s4.b3)."""
    try:
        signed = json.loads(payload.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError):
        message = "the JWS payload is not valid JSON; it must be the serialization of the signed Statement."
        yield Violation(path, "signature-payload", message + " (Data 2.6.s4.b3)")
        return
    if not isinstance(signed, dict):
        message = (
            f"the JWS payload is a JSON {type(signed).__name__}, not the Statement object it signs (Data 2.6.s4.b3)."
        )
        yield Violation(path, "signature-payload", message)
        return
    differences = statement_differences(signed, statement)
    if differences:
        message = (
            f"the Statement differs from the one its JWS signed in: {', '.join(differences)}; sign the Statement "
            "exactly as sent, without its attachments (Data 2.6.s5.b3.b2, 2.3.1 Statement comparison)."
        )
        yield Violation(path, "signature-payload", message)


def _no_constant(name: str) -> None:
    """Refuse NaN and Infinity, which Python's json accepts but JSON does not."""
    raise ValueError(f"{name} is not JSON")
