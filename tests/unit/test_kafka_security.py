"""Kafka security from the settings, once for every client: what kafka-python, aiokafka and faust are given, the
TLS context, and errors that name the setting without saying the secret."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr, ValidationError

from learnstream.errors import ConfigError
from learnstream.kafka_security import aiokafka_security, faust_credentials, kafka_python_security, tls_context
from learnstream.settings import KafkaSettings

SECRET = "s3cret-scram-password-never-logged"


def certificate(path: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = path / f"{name}.pem", path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_plaintext_by_default_for_every_client() -> None:
    settings = KafkaSettings()
    assert kafka_python_security(settings) == aiokafka_security(settings) == {"security_protocol": "PLAINTEXT"}
    assert faust_credentials(settings) is None


def test_sasl_over_tls_reaches_every_client_the_same(tmp_path: Path) -> None:
    ca, _ = certificate(tmp_path, "ca")
    client_cert, client_key = certificate(tmp_path, "client")
    settings = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="loader",
        sasl_password=SecretStr(SECRET),
        ssl_cafile=ca,
        ssl_certfile=client_cert,
        ssl_keyfile=client_key,
    )
    sync, asynchronous = kafka_python_security(settings), aiokafka_security(settings)
    for options in (sync, asynchronous):
        assert options["security_protocol"] == "SASL_SSL" and options["sasl_mechanism"] == "SCRAM-SHA-256"
        assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("loader", SECRET)
        context = options["ssl_context"]
        assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    credentials = faust_credentials(settings)
    assert credentials.protocol.value == "SASL_SSL" and credentials.mechanism.value == "SCRAM-SHA-256"
    assert credentials.username == "loader" and credentials.ssl_context.check_hostname
    assert SECRET not in repr(credentials) and SECRET not in repr(settings) and SECRET not in str(settings)


def test_tls_alone_and_without_hostname_checks(tmp_path: Path) -> None:
    ca, _ = certificate(tmp_path, "ca")
    settings = KafkaSettings(security_protocol="SSL", ssl_cafile=ca, ssl_check_hostname=False)
    context = tls_context(settings)
    assert context is not None and not context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert "sasl_mechanism" not in kafka_python_security(settings)
    assert faust_credentials(settings).protocol.value == "SSL"


def test_sasl_without_credentials_names_the_settings() -> None:
    with pytest.raises(ValidationError, match="LEARNSTREAM_KAFKA__SASL_PASSWORD"):
        KafkaSettings(security_protocol="SASL_PLAINTEXT", sasl_username="loader")


def test_a_client_certificate_needs_its_key(tmp_path: Path) -> None:
    cert, _ = certificate(tmp_path, "client")
    with pytest.raises(ValidationError, match="LEARNSTREAM_KAFKA__SSL_KEYFILE"):
        KafkaSettings(security_protocol="SSL", ssl_certfile=cert)


def test_wrong_files_name_their_setting_and_not_the_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LEARNSTREAM_KAFKA__SSL_CAFILE: no file"):
        tls_context(KafkaSettings(security_protocol="SSL", ssl_cafile=tmp_path / "missing.pem"))
    (tmp_path / "not.pem").write_text("not a certificate")
    with pytest.raises(ConfigError, match="LEARNSTREAM_KAFKA__SSL_CAFILE: not PEM"):
        tls_context(KafkaSettings(security_protocol="SSL", ssl_cafile=tmp_path / "not.pem"))
    cert, _ = certificate(tmp_path, "client")
    _, other_key = certificate(tmp_path, "other")
    mismatched = KafkaSettings(
        security_protocol="SSL", ssl_certfile=cert, ssl_keyfile=other_key, ssl_key_password=SecretStr(SECRET)
    )
    with pytest.raises(ConfigError, match="do not load together") as refused:
        tls_context(mismatched)
    assert SECRET not in str(refused.value)
