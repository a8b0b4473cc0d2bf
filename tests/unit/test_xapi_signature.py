"""Signed Statements (lrs.signature), table-driven from xAPI 1.0.3 Data 2.6 and the ADL conformance suite.

Sources in the rows: "Data 2.6.s5.b3.b2" is a numbered requirement of xAPI-Data.md 1.0.3 (unchanged in xAPI 2.0),
"Data 2.3.1.b4" an exception to Statement immutability that the Statement comparison ignores, "RFC 7515 ..." the JWS
specification, and "XAPI-00115/116/117" the requirement ids of adlnet/lrs-conformance-test-suite
(test/v1_0_3/E.Data2.6-SignedStatements.js and test/v2_0/E.Data2.6-SignedStatements.js, whose helper.signStatement
signs the Statement without its attachments, RS256 by default, and sends no x5c). The keys and the self-signed
certificate are made at test time; the one fixed vector is the spec's own Appendix D example.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from lrs.attachments import AttachmentPart, attachment_violations, parse_multipart
from lrs.comparison import statement_differences
from lrs.signature import batch_signature_violations, signature_violations
from lrs.validation import SIGNATURE, statement_violations

#: The Statement the tests sign: every part the Statement comparison treats specially (Data 2.3.1).
SIGNED: dict[str, Any] = {
    "version": "1.0.0",
    "id": "33cff416-e331-4c9d-969e-5373a1756120",
    "actor": {"mbox": "mailto:example@example.com", "name": "Example Learner", "objectType": "Agent"},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced", "display": {"en-US": "experienced"}},
    "object": {
        "id": "https://www.youtube.com/watch?v=xh4kIiH3Sm8",
        "objectType": "Activity",
        "definition": {"name": {"en-US": "Tax Tips & Information : How to File a Tax Return "}},
    },
    "result": {"score": {"raw": 1.0, "max": 2}, "success": True, "duration": "PT1M"},
    "context": {
        "registration": "5389ed44-e618-4a66-9a43-7a0b282fd837",
        "team": {"objectType": "Group", "member": [{"mbox": "mailto:a@example.com"}, {"mbox": "mailto:b@example.com"}]},
        "contextActivities": {
            "parent": [{"id": "http://example.com/course", "definition": {"type": "http://x.org/t"}}]
        },
        "extensions": {"http://example.com/ext": {"count": 1}},
    },
    "timestamp": "2013-04-01T12:00:00Z",
}


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signature_attachment(jws: bytes) -> dict[str, Any]:
    """The attachment that carries a JWS (Data 2.6.s4.b1), as the suite's signStatement declares it."""
    return {
        "usageType": SIGNATURE,
        "display": {"en-US": "Signed by the Test Suite"},
        "contentType": "application/octet-stream",
        "length": len(jws),
        "sha2": hashlib.sha256(jws).hexdigest(),
    }


def with_signature(signed: dict[str, Any], jws: bytes) -> dict[str, Any]:
    """The Statement as sent: `signed` plus its signature attachment."""
    return copy.deepcopy(signed) | {"attachments": [signature_attachment(jws)]}


@dataclass(frozen=True)
class Signer:
    """An RSA key with a self-signed certificate, made at test time, that writes compact JWS."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    def x5c(self) -> list[str]:
        """The x5c header value: the certificate as standard base64 of its DER (RFC 7515 4.1.6)."""
        return [base64.b64encode(self.certificate.public_bytes(serialization.Encoding.DER)).decode()]

    def jws(
        self,
        payload: dict[str, Any] | bytes = SIGNED,
        alg: str = "RS256",
        *,
        x5c: bool = True,
        header: dict[str, Any] | None = None,
        key: rsa.RSAPrivateKey | None = None,
    ) -> bytes:
        """A compact JWS of `payload` (a Statement, or raw octets) signed with RSASSA-PKCS1-v1_5 and alg's hash."""
        fields: dict[str, Any] = {"alg": alg} | ({"x5c": self.x5c()} if x5c else {}) | (header or {})
        octets = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        signing_input = f"{b64url(json.dumps(fields).encode())}.{b64url(octets)}"
        digest = {"RS384": hashes.SHA384(), "RS512": hashes.SHA512()}.get(alg, hashes.SHA256())
        signature = (key or self.key).sign(signing_input.encode(), padding.PKCS1v15(), digest)
        return f"{signing_input}.{b64url(signature)}".encode()


def self_signed(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> x509.Certificate:
    """A self-signed certificate for `key`, valid for a day."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "learnstream test signer")])
    now = datetime.now(UTC)
    builder = x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
    builder = builder.serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
    return builder.not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256())


@pytest.fixture(scope="module")
def signer() -> Signer:
    """The test signer: a fresh 2048-bit RSA key and its self-signed certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return Signer(key, self_signed(key))


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    """A key that is not the certificate's."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def changed(statement: dict[str, Any], **properties: Any) -> dict[str, Any]:
    """A deep copy of `statement` with top-level properties replaced (None removes one)."""
    result = copy.deepcopy(statement)
    for key, value in properties.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def replaced_payload(jws: bytes, payload: bytes) -> bytes:
    """The JWS with another payload and the original header and signature (tampering)."""
    header, _, signature = jws.split(b".")
    return b".".join([header, b64url(payload).encode(), signature])


def segments(jws: bytes) -> list[bytes]:
    """The three segments of a compact JWS."""
    return jws.split(b".")


# --- Signatures the LRS must accept -----------------------------------------------------------------------------

Case = Callable[[Signer, rsa.RSAPrivateKey], tuple[dict[str, Any], bytes]]


def sent(signed: dict[str, Any], received: dict[str, Any] | None = None, **options: Any) -> Case:
    """A case: `signed` is signed (with jws options), `received` (default: the same) is what the LRS receives."""

    def build(signer: Signer, other_key: rsa.RSAPrivateKey) -> tuple[dict[str, Any], bytes]:
        keyword = {name: value for name, value in options.items() if name != "other_key"}
        jws = signer.jws(signed, key=other_key if options.get("other_key") else None, **keyword)
        return with_signature(received if received is not None else signed, jws), jws

    return build


MEMBERS = SIGNED["context"]["team"]["member"]
#: (source, case) the LRS must accept: the JWS is well formed and its payload is the Statement received.
ACCEPTED: list[tuple[str, Case]] = [
    ("XAPI-00117 RS256 without x5c, as the suite signs", sent(SIGNED, x5c=False)),
    ("XAPI-00117 RS256 with x5c", sent(SIGNED)),
    ("XAPI-00117 RS384 with x5c", sent(SIGNED, alg="RS384")),
    ("XAPI-00117 RS512 with x5c", sent(SIGNED, alg="RS512")),
    (
        "Data 2.3.1.b1 the LRS adds authority and stored",
        sent(SIGNED, changed(SIGNED, stored="2024-01-01T00:00:00Z", authority={"mbox": "mailto:lrs@example.com"})),
    ),
    ("Data 2.3.1.b1 the payload has no id, the LRS assigned one", sent(changed(SIGNED, id=None), SIGNED)),
    ("Data 2.3.1.b1 the received Statement has no id yet", sent(SIGNED, changed(SIGNED, id=None))),
    (
        "Data 2.3.1.b1 timestamp and version assigned by the LRS",
        sent(changed(SIGNED, timestamp=None, version=None), SIGNED),
    ),
    (
        "Data 2.3.1.b3 the Verb's display is not part of the Statement",
        sent(SIGNED, changed(SIGNED, verb={"id": SIGNED["verb"]["id"], "display": {"de-DE": "erlebte"}})),
    ),
    (
        "Data 2.3.1.b2 Activity definitions are not part of the Statement",
        sent(
            SIGNED,
            changed(
                SIGNED,
                object={"id": SIGNED["object"]["id"]},
                context=SIGNED["context"] | {"contextActivities": {"parent": {"id": "http://example.com/course"}}},
            ),
        ),
    ),
    (
        "Data 2.3.1.b4 the same instant in another time zone",
        sent(SIGNED, changed(SIGNED, timestamp="2013-04-01T14:00:00.000+02:00")),
    ),
    (
        "Data 2.3.1.b5 Group members in another order",
        sent(
            SIGNED,
            changed(SIGNED, context=SIGNED["context"] | {"team": {"objectType": "Group", "member": MEMBERS[::-1]}}),
        ),
    ),
    (
        "Data 2.3.1.b7 case-insensitive: mbox domain, UUIDs",
        sent(
            SIGNED,
            changed(SIGNED, id=SIGNED["id"].upper(), actor=SIGNED["actor"] | {"mbox": "mailto:example@EXAMPLE.com"}),
        ),
    ),
    (
        "Data 2.6.s4.b3 another serialization of the same JSON (1 and 1.0, key order)",
        sent(SIGNED, changed(SIGNED, result={"duration": "PT1M", "success": True, "score": {"max": 2.0, "raw": 1}})),
    ),
    (
        "Data 2.4.4 an Activity's objectType may be left out",
        sent(SIGNED, changed(SIGNED, object={k: v for k, v in SIGNED["object"].items() if k != "objectType"})),
    ),
    (
        "Data 2.6.s4.b3 a payload signed with its attachments: they are not compared",
        sent(SIGNED | {"attachments": [{"usageType": "http://example.com/cert", "sha2": "00"}]}),
    ),
]


@pytest.mark.parametrize(("source", "case"), ACCEPTED, ids=[row[0] for row in ACCEPTED])
def test_signature_accepted(source: str, case: Case, signer: Signer, other_key: rsa.RSAPrivateKey) -> None:
    statement, jws = case(signer, other_key)
    assert signature_violations(statement, jws) == []


def test_the_spec_appendix_d_example_verifies() -> None:
    # Data Appendix D: a CRLF-formatted header and payload, a two-certificate x5c chain, a 1024-bit key, a
    # certificate that expired in 2014 (the check catches mistakes; it is not a security measure, Data 2.6.s5).
    jws = APPENDIX_D_JWS.encode()
    payload = base64.urlsafe_b64decode(segments(jws)[1] + b"==")
    statement = with_signature(json.loads(payload), jws)
    assert signature_violations(statement, jws) == []
    statement["object"]["id"] = "https://www.youtube.com/watch?v=other"
    assert [v.rule for v in signature_violations(statement, jws)] == ["signature-payload"]
    tampered = replaced_payload(jws, json.dumps(statement | {"attachments": []}).encode())
    assert {v.rule for v in signature_violations(statement, tampered)} == {"signature-verification"}


def test_whitespace_around_the_jws_is_ignored(signer: Signer) -> None:
    jws = signer.jws()
    assert signature_violations(with_signature(SIGNED, jws), b"\r\n" + jws + b"\r\n") == []


@pytest.mark.parametrize("form", ["flattened", "general"])
def test_json_serialization_is_accepted(form: str, signer: Signer, other_key: rsa.RSAPrivateKey) -> None:
    # Data 2.6.s4.b2: compact serialization SHOULD* be used; the JSON one is discouraged, not forbidden.
    header, payload, signature = (part.decode() for part in segments(signer.jws()))
    entry = {"protected": header, "header": {"kid": "test"}, "signature": signature}
    document = {"payload": payload} | (entry if form == "flattened" else {"signatures": [entry]})
    assert signature_violations(with_signature(SIGNED, b""), json.dumps(document).encode()) == []
    forged = signer.jws(key=other_key).split(b".")[2].decode()
    entry["signature"] = forged
    document = {"payload": payload} | (entry if form == "flattened" else {"signatures": [entry]})
    rules = [v.rule for v in signature_violations(with_signature(SIGNED, b""), json.dumps(document).encode())]
    assert rules == ["signature-verification"]


# --- Signatures the LRS must reject (400) -------------------------------------------------------------------------


def raw(jws: Callable[[Signer], bytes], received: dict[str, Any] = SIGNED) -> Case:
    """A case whose JWS octets are made directly (malformed ones)."""

    def build(signer: Signer, other_key: rsa.RSAPrivateKey) -> tuple[dict[str, Any], bytes]:
        octets = jws(signer)
        return with_signature(received, octets), octets

    return build


def hmac_jws(signer: Signer) -> bytes:
    """What the suite sends for "another algorithm": HS256 keyed with the RSA private key's PEM."""
    pem = signer.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    signing_input = b64url(b'{"alg": "HS256"}') + "." + b64url(json.dumps(SIGNED).encode())
    return f"{signing_input}.{b64url(hmac.digest(pem, signing_input.encode(), 'sha256'))}".encode()


def unsigned_jws(signer: Signer) -> bytes:
    """An Unsecured JWS (RFC 7515 A.5): alg none and an empty signature."""
    return (b64url(b'{"alg": "none"}') + "." + b64url(json.dumps(SIGNED).encode()) + ".").encode()


def broken_json(signer: Signer) -> bytes:
    """The suite's breakJson: the first double quote of the serialization replaced by a single one."""
    return signer.jws(json.dumps(SIGNED).replace('"', "'", 1).encode(), x5c=False)


def header_segment(header: bytes) -> Callable[[Signer], bytes]:
    """A JWS whose header segment encodes these octets."""
    return lambda signer: b".".join([b64url(header).encode(), *segments(signer.jws())[1:]])


def x5c_of(value: object) -> Callable[[Signer], bytes]:
    """A JWS whose x5c header has this value."""
    return lambda signer: signer.jws(x5c=False, header={"x5c": value})


def ec_certificate_x5c() -> list[str]:
    """An x5c with a certificate for an elliptic-curve key, which RS256 cannot use."""
    key = ec.generate_private_key(ec.SECP256R1())
    return [base64.b64encode(self_signed(key).public_bytes(serialization.Encoding.DER)).decode()]


#: (source, case, the rules reported)
REJECTED: list[tuple[str, Case, set[str]]] = [
    ("XAPI-00117 HS256 keyed with the PEM (the suite's other algorithm)", raw(hmac_jws), {"signature-algorithm"}),
    ("XAPI-00117 RFC 7515 A.5 alg none", raw(unsigned_jws), {"signature-algorithm"}),
    ("XAPI-00117 PS256 is not RS256", sent(SIGNED, alg="PS256"), {"signature-algorithm"}),
    ("XAPI-00117 ES256", sent(SIGNED, alg="ES256", x5c=False), {"signature-algorithm"}),
    ("XAPI-00117 lower-case rs256", sent(SIGNED, alg="rs256"), {"signature-algorithm"}),
    ("RFC 7515 4.1.1 no alg", raw(header_segment(b'{"typ":"JWT"}')), {"signature-algorithm"}),
    ("XAPI-00116 the suite's breakJson payload", raw(broken_json), {"signature-payload"}),
    ("XAPI-00116 a payload that is a JSON array", raw(lambda s: s.jws(b"[]")), {"signature-payload"}),
    ("XAPI-00116 an empty payload", raw(lambda s: s.jws(b"")), {"signature-payload"}),
    ("XAPI-00116 NaN is not JSON", raw(lambda s: s.jws(b'{"result": {"score": {"raw": NaN}}}')), {"signature-payload"}),
    ("XAPI-00116 a payload not in UTF-8", raw(lambda s: s.jws(b'{"a": "\xff"}')), {"signature-payload"}),
    (
        "Data 2.6.s5.b3.b2 another verb",
        sent(SIGNED, changed(SIGNED, verb={"id": "http://adlnet.gov/expapi/verbs/failed"})),
        {"signature-payload"},
    ),
    (
        "Data 2.6.s5.b3.b2 another result",
        sent(SIGNED, changed(SIGNED, result={"success": False})),
        {"signature-payload"},
    ),
    (
        "Data 2.6.s5.b3.b2 a property added after signing",
        sent(SIGNED, changed(SIGNED, result=None)),
        {"signature-payload"},
    ),
    (
        "Data 2.3.1.b1 an id present on both sides must match",
        sent(SIGNED, changed(SIGNED, id="6690e6c9-3ef0-4ed3-8b37-7f3964730bee")),
        {"signature-payload"},
    ),
    (
        "Data 2.3.1.b4 another instant",
        sent(SIGNED, changed(SIGNED, timestamp="2013-04-01T12:00:01Z")),
        {"signature-payload"},
    ),
    (
        "Data 2.3.1.b8 a Duration compares as a string",
        sent(SIGNED, changed(SIGNED, result=SIGNED["result"] | {"duration": "PT60S"})),
        {"signature-payload"},
    ),
    (
        "Data 2.3.1.s9.b2 true is not 1",
        sent(SIGNED, changed(SIGNED, result=SIGNED["result"] | {"success": 1})),
        {"signature-payload"},
    ),
    (
        "Data 2.3.1.b5 a Group member left out",
        sent(
            SIGNED,
            changed(SIGNED, context=SIGNED["context"] | {"team": {"objectType": "Group", "member": MEMBERS[:1]}}),
        ),
        {"signature-payload"},
    ),
    (
        "Data 2.3.1.s9.b2 an extension's value",
        sent(
            SIGNED,
            changed(SIGNED, context=SIGNED["context"] | {"extensions": {"http://example.com/ext": {"count": 2}}}),
        ),
        {"signature-payload"},
    ),
    (
        "Data 2.3.1.b7 the local part of an mbox is case-sensitive",
        sent(SIGNED, changed(SIGNED, actor=SIGNED["actor"] | {"mbox": "mailto:Example@example.com"})),
        {"signature-payload"},
    ),
    (
        "Data 2.6.s5.b3.b3 signed by another key than the x5c certificate's",
        sent(SIGNED, other_key=True),
        {"signature-verification"},
    ),
    (
        "Data 2.6.s5.b3.b3 a tampered payload (statement changed to match)",
        raw(
            lambda s: replaced_payload(s.jws(), json.dumps(changed(SIGNED, result={"success": False})).encode()),
            changed(SIGNED, result={"success": False}),
        ),
        {"signature-verification"},
    ),
    (
        "Data 2.6.s5.b3.b3 a signature of the wrong length",
        raw(lambda s: b".".join([*segments(s.jws())[:2], b"c2ln"])),
        {"signature-verification"},
    ),
    (
        "Data 2.6.s5.b3.b3 an empty signature",
        raw(lambda s: b".".join([*segments(s.jws())[:2], b""])),
        {"signature-verification"},
    ),
    ("RFC 7515 4.1.6 x5c not a list", raw(x5c_of("MIIB")), {"signature-format"}),
    ("RFC 7515 4.1.6 x5c empty", raw(x5c_of([])), {"signature-format"}),
    ("RFC 7515 4.1.6 x5c not base64", raw(x5c_of(["not base64!"])), {"signature-format"}),
    ("RFC 7515 4.1.6 x5c not a certificate", raw(x5c_of([base64.b64encode(b"hello").decode()])), {"signature-format"}),
    ("RFC 7515 4.1.6 x5c certificate of an EC key", raw(x5c_of(ec_certificate_x5c())), {"signature-format"}),
    (
        "RFC 7515 4.1.11 crit extensions are not understood",
        sent(SIGNED, header={"crit": ["exp"], "exp": 1}),
        {"signature-format"},
    ),
    ("XAPI-00115 two segments", raw(lambda s: b".".join(segments(s.jws())[:2])), {"signature-format"}),
    ("XAPI-00115 four segments", raw(lambda s: s.jws() + b".e30"), {"signature-format"}),
    ("XAPI-00115 not ASCII", raw(lambda s: "é.e30.c2ln".encode()), {"signature-format"}),
    ("XAPI-00115 empty", raw(lambda s: b""), {"signature-format"}),
    (
        "XAPI-00115 padded base64url",
        raw(lambda s: b".".join([segments(s.jws())[0] + b"=", *segments(s.jws())[1:]])),
        {"signature-format"},
    ),
    ("XAPI-00115 base64 with + and /", raw(lambda s: b"a+b/.e30.c2ln"), {"signature-format"}),
    ("XAPI-00115 a header that is not JSON", raw(header_segment(b"alg=RS256")), {"signature-format"}),
    ("XAPI-00115 a header that is a JSON array", raw(header_segment(b'["RS256"]')), {"signature-format"}),
    ("XAPI-00115 JSON serialization without payload", raw(lambda s: b'{"signature": "c2ln"}'), {"signature-format"}),
    (
        "XAPI-00115 JSON serialization with a non-ASCII payload",
        raw(lambda s: b'{"payload": "\\u00e9", "signature": ""}'),
        {"signature-format"},
    ),
    (
        "XAPI-00115 JSON serialization without signatures",
        raw(lambda s: b'{"payload": "e30", "signatures": []}'),
        {"signature-format"},
    ),
    ("XAPI-00115 JSON serialization that is not JSON", raw(lambda s: b"{not json"), {"signature-format"}),
]


@pytest.mark.parametrize(("source", "case", "rules"), REJECTED, ids=[row[0] for row in REJECTED])
def test_signature_rejected(
    source: str, case: Case, rules: set[str], signer: Signer, other_key: rsa.RSAPrivateKey
) -> None:
    statement, jws = case(signer, other_key)
    violations = signature_violations(statement, jws)
    assert {violation.rule for violation in violations} == rules
    assert all(violation.path == "attachments" for violation in violations)
    assert all("Data 2.6" in violation.message or "RFC 7515" in violation.message for violation in violations)


def test_a_payload_violation_names_the_properties_that_differ(signer: Signer) -> None:
    received = changed(SIGNED, result={"success": False}, verb={"id": "http://adlnet.gov/expapi/verbs/failed"})
    (violation,) = signature_violations(with_signature(received, signer.jws()), signer.jws())
    assert "result, verb" in violation.message


def test_statement_differences_lists_top_level_properties() -> None:
    assert statement_differences(SIGNED, changed(SIGNED, stored="2024-01-01T00:00:00Z")) == []
    assert statement_differences(SIGNED, changed(SIGNED, context=None, object={"id": "urn:x"})) == ["context", "object"]


# --- Pairing signature attachments with their parts -------------------------------------------------------------


def test_a_signed_batch_passes(signer: Signer) -> None:
    jws = signer.jws()
    unsigned = changed(SIGNED, id=None)
    assert (
        batch_signature_violations(
            [unsigned, with_signature(SIGNED, jws)],
            [AttachmentPart.for_data(jws, signature_attachment(jws)["sha2"], "application/octet-stream")],
        )
        == []
    )


def test_a_signature_attachment_without_its_part_is_rejected(signer: Signer) -> None:
    # XAPI-00115: "does not have a signature attached"; a fileUrl does not replace the JWS.
    jws = signer.jws()
    statement = with_signature(SIGNED, jws)
    statement["attachments"][0]["fileUrl"] = "https://example.com/signature.jws"
    ((index, violation),) = batch_signature_violations([changed(SIGNED), statement], [])
    assert (index, violation.path, violation.rule) == (1, "attachments[0].sha2", "signature-missing")


def test_batch_reports_each_bad_signature_by_index_and_attachment(signer: Signer, other_key: rsa.RSAPrivateKey) -> None:
    good, bad = signer.jws(), signer.jws(key=other_key)
    first = with_signature(SIGNED, good)
    second = changed(SIGNED, id=None)
    second["attachments"] = [{"usageType": "http://example.com/cert", "sha2": "00"}, signature_attachment(bad)]
    parts = [
        AttachmentPart.for_data(data, hashlib.sha256(data).hexdigest(), "application/octet-stream")
        for data in (good, bad)
    ]
    found = [(index, v.path, v.rule) for index, v in batch_signature_violations([first, second], parts)]
    assert found == [(1, "attachments[1]", "signature-verification")]


def test_a_signature_with_another_content_type_is_refused_by_validation(signer: Signer) -> None:
    # XAPI-00115 "bad content type": lrs.validation reports it; the JWS itself is still checked here.
    jws = signer.jws()
    statement = with_signature(SIGNED, jws)
    statement["attachments"][0]["contentType"] = "text/plain; charset=ascii"
    assert ("attachments[0].contentType", "signature") in {(v.path, v.rule) for v in statement_violations(statement)}


def test_the_suites_signed_request_end_to_end(signer: Signer) -> None:
    # helper.signStatement: sign without attachments, then POST multipart/mixed with a leading CRLF and no final CRLF.
    jws = signer.jws(x5c=False)
    statement = with_signature(SIGNED, jws)
    boundary = "-------1234567890"
    body = (
        (
            f"\r\n--{boundary}\r\nContent-Type:application/json\r\n\r\n{json.dumps(statement)}\r\n--{boundary}\r\n"
            f"Content-Type:application/octet-stream\r\nContent-Transfer-Encoding:binary\r\n"
            f"X-Experience-API-Hash:{statement['attachments'][0]['sha2']}\r\n\r\n"
        ).encode()
        + jws
        + f"\r\n--{boundary}--".encode()
    )
    parsed = parse_multipart(f"multipart/mixed; boundary={boundary}", body)
    statements = [json.loads(parsed.statements)]
    assert attachment_violations(statements, parsed.attachments) == []
    assert batch_signature_violations(statements, parsed.attachments) == []
    assert statement_violations(statements[0]) == []


#: The JWS of Data Appendix D ("Example Signed Statement"), verbatim from xAPI-Data.md 1.0.3.
APPENDIX_D_JWS = (
    "ew0KICAgICJhbGciOiAiUlMyNTYiLA0KICAgICJ4NWMiOiBbDQogICAgICAgICJNSUlEQVRDQ0FtcWdBd0lCQWdJSkFNQjFjc051QTYra01B"
    "MEdDU3FHU0liM0RRRUJCUVVBTUhFeEN6QUpCZ05WQkFZVEFsVlRNUkl3RUFZRFZRUUlFd2xVWlc1dVpYTnpaV1V4R0RBV0JnTlZCQW9URDBW"
    "NFlXMXdiR1VnUTI5dGNHRnVlVEVRTUE0R0ExVUVBeE1IUlhoaGJYQnNaVEVpTUNBR0NTcUdTSWIzRFFFSkFSWVRaWGhoYlhCc1pVQmxlR0Z0"
    "Y0d4bExtTnZiVEFlRncweE16QTBNRFF4TlRJNE16QmFGdzB4TkRBME1EUXhOVEk0TXpCYU1JR1dNUXN3Q1FZRFZRUUdFd0pWVXpFU01CQUdB"
    "MVVFQ0JNSlZHVnVibVZ6YzJWbE1SRXdEd1lEVlFRSEV3aEdjbUZ1YTJ4cGJqRVlNQllHQTFVRUNoTVBSWGhoYlhCc1pTQkRiMjF3WVc1NU1S"
    "QXdEZ1lEVlFRTEV3ZEZlR0Z0Y0d4bE1SQXdEZ1lEVlFRREV3ZEZlR0Z0Y0d4bE1TSXdJQVlKS29aSWh2Y05BUWtCRmhObGVHRnRjR3hsUUdW"
    "NFlXMXdiR1V1WTI5dE1JR2ZNQTBHQ1NxR1NJYjNEUUVCQVFVQUE0R05BRENCaVFLQmdRRGp4dlpYRjMwV0w0b0tqWllYZ1IwWnlhWCt1M3k2"
    "K0pxVHFpTmtGYS9WVG5ldDZMeTJPVDZabW1jSkVQbnEzVW5ld3BIb09RK0dmaGhUa1cxM2owNmo1aU5uNG9iY0NWV1RMOXlYTnZKSCtLbyt4"
    "dTRZbC95U1BScklQeVRqdEhkRzBNMlh6SWxtbUxxbStDQVMrS0NiSmVINHRmNTQza0lXQzVwQzVwM2NWUUlEQVFBQm8zc3dlVEFKQmdOVkhS"
    "TUVBakFBTUN3R0NXQ0dTQUdHK0VJQkRRUWZGaDFQY0dWdVUxTk1JRWRsYm1WeVlYUmxaQ0JEWlhKMGFXWnBZMkYwWlRBZEJnTlZIUTRFRmdR"
    "VVZzM3Y1YWZFZE9lb1llVmFqQVFFNHYwV1MxUXdId1lEVlIwakJCZ3dGb0FVeVZJYzN5dnJhNEVCejIwSTRCRjM5SUFpeEJrd0RRWUpLb1pJ"
    "aHZjTkFRRUZCUUFEZ1lFQWdTL0ZGNUQwSG5qNDRydlQ2a2duM2tKQXZ2MmxqL2Z5anp0S0lyWVMzM2xqWEduNmdHeUE0cXRiWEEyM1ByTzR1"
    "Yy93WUNTRElDRHBQb2JoNjJ4VENkOXFPYktoZ3dXT2kwNVBTQkxxVXUzbXdmQWUxNUxKQkpCcVBWWjRLMGtwcGVQQlU4bTZhSVpvSDU3TC85"
    "dDRPb2FMOHlLcy9xaktGZUkxT0ZXWnh2QT0iLA0KICAgICAgICAiTUlJRE56Q0NBcUNnQXdJQkFnSUpBTUIxY3NOdUE2K2pNQTBHQ1NxR1NJ"
    "YjNEUUVCQlFVQU1IRXhDekFKQmdOVkJBWVRBbFZUTVJJd0VBWURWUVFJRXdsVVpXNXVaWE56WldVeEdEQVdCZ05WQkFvVEQwVjRZVzF3YkdV"
    "Z1EyOXRjR0Z1ZVRFUU1BNEdBMVVFQXhNSFJYaGhiWEJzWlRFaU1DQUdDU3FHU0liM0RRRUpBUllUWlhoaGJYQnNaVUJsZUdGdGNHeGxMbU52"
    "YlRBZUZ3MHhNekEwTURReE5USTFOVE5hRncweU16QTBNREl4TlRJMU5UTmFNSEV4Q3pBSkJnTlZCQVlUQWxWVE1SSXdFQVlEVlFRSUV3bFVa"
    "VzV1WlhOelpXVXhHREFXQmdOVkJBb1REMFY0WVcxd2JHVWdRMjl0Y0dGdWVURVFNQTRHQTFVRUF4TUhSWGhoYlhCc1pURWlNQ0FHQ1NxR1NJ"
    "YjNEUUVKQVJZVFpYaGhiWEJzWlVCbGVHRnRjR3hsTG1OdmJUQ0JuekFOQmdrcWhraUc5dzBCQVFFRkFBT0JqUUF3Z1lrQ2dZRUExc0JuQldQ"
    "WjBmN1dKVUZUSnk1KzAxU2xTNVo2RERENlV5ZTl2SzlBeWNnVjVCMytXQzhIQzV1NWg5MU11akFDMUFSUFZVT3RzdlBSczQ1cUtORklnSUdS"
    "WEtQQXdaamF3RUkyc0NKUlNLVjQ3aTZCOGJEdjRXa3VHdlFhdmVaR0kwcWxtTjVSMUVpbTJnVUl0UmoxaGdjQzlyUWF2amxuRktEWTJybFhH"
    "dWtDQXdFQUFhT0IxakNCMHpBZEJnTlZIUTRFRmdRVXlWSWMzeXZyYTRFQnoyMEk0QkYzOUlBaXhCa3dnYU1HQTFVZEl3U0JtekNCbUlBVXlW"
    "SWMzeXZyYTRFQnoyMEk0QkYzOUlBaXhCbWhkYVJ6TUhFeEN6QUpCZ05WQkFZVEFsVlRNUkl3RUFZRFZRUUlFd2xVWlc1dVpYTnpaV1V4R0RB"
    "V0JnTlZCQW9URDBWNFlXMXdiR1VnUTI5dGNHRnVlVEVRTUE0R0ExVUVBeE1IUlhoaGJYQnNaVEVpTUNBR0NTcUdTSWIzRFFFSkFSWVRaWGho"
    "YlhCc1pVQmxlR0Z0Y0d4bExtTnZiWUlKQU1CMWNzTnVBNitqTUF3R0ExVWRFd1FGTUFNQkFmOHdEUVlKS29aSWh2Y05BUUVGQlFBRGdZRUFE"
    "aHdUZWJHazczNXlLaG04RHFDeHZObkVaME54c1lFWU9qZ1JHMXlYVGxXNXBFNjkxZlNINUFaK1Q2ZnB3cFpjV1k1UVlrb042RG53ak94R2tT"
    "ZlFDMy95R21jVURLQlB3aVo1TzJzOUMrZkUxa1VFbnJYMlhlYTRhZ1ZuZ016UjhEUTZvT2F1TFdxZWhEQitnMkVOV1JMb1ZnUyttYTUvWWNz"
    "MEdUeXJFQ1k9Ig0KICAgIF0NCn0.ew0KICAgICJ2ZXJzaW9uIjogIjEuMC4wIiwNCiAgICAiaWQiOiAiMzNjZmY0MTYtZTMzMS00YzlkLTk2"
    "OWUtNTM3M2ExNzU2MTIwIiwNCiAgICAiYWN0b3IiOiB7DQogICAgICAgICJtYm94IjogIm1haWx0bzpleGFtcGxlQGV4YW1wbGUuY29tIiwN"
    "CiAgICAgICAgIm5hbWUiOiAiRXhhbXBsZSBMZWFybmVyIiwNCiAgICAgICAgIm9iamVjdFR5cGUiOiAiQWdlbnQiDQogICAgfSwNCiAgICAi"
    "dmVyYiI6IHsNCiAgICAgICAgImlkIjogImh0dHA6Ly9hZGxuZXQuZ292L2V4cGFwaS92ZXJicy9leHBlcmllbmNlZCIsDQogICAgICAgICJk"
    "aXNwbGF5Ijogew0KICAgICAgICAgICAgImVuLVVTIjogImV4cGVyaWVuY2VkIg0KICAgICAgICB9DQogICAgfSwNCiAgICAib2JqZWN0Ijog"
    "ew0KICAgICAgICAiaWQiOiAiaHR0cHM6Ly93d3cueW91dHViZS5jb20vd2F0Y2g_dj14aDRrSWlIM1NtOCIsDQogICAgICAgICJvYmplY3RU"
    "eXBlIjogIkFjdGl2aXR5IiwNCiAgICAgICAgImRlZmluaXRpb24iOiB7DQogICAgICAgICAgICAibmFtZSI6IHsNCiAgICAgICAgICAgICAg"
    "ICAiZW4tVVMiOiAiVGF4IFRpcHMgJiBJbmZvcm1hdGlvbiA6IEhvdyB0byBGaWxlIGEgVGF4IFJldHVybiAiDQogICAgICAgICAgICB9LA0K"
    "ICAgICAgICAgICAgImRlc2NyaXB0aW9uIjogew0KICAgICAgICAgICAgICAgICJlbi1VUyI6ICJGaWxpbmcgYSB0YXggcmV0dXJuIHdpbGwg"
    "cmVxdWlyZSBmaWxsaW5nIG91dCBlaXRoZXIgYSAxMDQwLCAxMDQwQSBvciAxMDQwRVogZm9ybSINCiAgICAgICAgICAgIH0NCiAgICAgICAg"
    "fQ0KICAgIH0sDQogICAgInRpbWVzdGFtcCI6ICIyMDEzLTA0LTAxVDEyOjAwOjAwWiINCn0.FWuwaPhwUbkk7h9sKW5zSvjsYNugvxJ-TrVa"
    "Egt_DCUT0bmKhQScRrjMB6P9O50uznPwT66oF1NnU_G0HVhRzS5voiXE-y7tT3z0M3-8A6YK009Bk_digVUul-HA4Fpd5IjoBBGe3yzaQ2Zv"
    "zarvRuipvNEQCI0onpfuZZJQ0d8"
)
