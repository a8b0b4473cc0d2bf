"""How every Kafka client reaches a secured cluster, from one place: TLS and SASL from `KafkaSettings`.

kafka-python (connectors, loader, CLI), aiokafka (serve's receivers) and the faust worker take the same settings
in three spellings; each gets its own from the functions here, and one TLS context made from the settings, so
security is set once (`LEARNSTREAM_KAFKA__SECURITY_PROTOCOL`, `__SASL_*`, `__SSL_*`). Secrets stay in SecretStr
until a client is built and are never put in a message.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from learnstream.errors import ConfigError
from learnstream.settings import KafkaSettings

#: The settings that name a file, by the variable an operator sets.
_FILES = {
    "ssl_cafile": "LEARNSTREAM_KAFKA__SSL_CAFILE",
    "ssl_certfile": "LEARNSTREAM_KAFKA__SSL_CERTFILE",
    "ssl_keyfile": "LEARNSTREAM_KAFKA__SSL_KEYFILE",
}


def uses_tls(settings: KafkaSettings) -> bool:
    return settings.security_protocol in ("SSL", "SASL_SSL")


def uses_sasl(settings: KafkaSettings) -> bool:
    return settings.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")


def tls_context(settings: KafkaSettings) -> ssl.SSLContext | None:
    """The TLS context of every client, or None without TLS; ConfigError naming the setting when a file is wrong."""
    if not uses_tls(settings):
        return None
    for name, variable in _FILES.items():
        path: Path | None = getattr(settings, name)
        if path is not None and not path.is_file():
            raise ConfigError(f"{variable}: no file at {path}")
    try:
        context = ssl.create_default_context(cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None)
    except ssl.SSLError as exc:
        raise ConfigError(f"LEARNSTREAM_KAFKA__SSL_CAFILE: not PEM CA certificates ({exc.reason})") from None
    context.check_hostname = settings.ssl_check_hostname  # the certificate is always verified against the CAs
    if settings.ssl_certfile is not None and settings.ssl_keyfile is not None:
        password = settings.ssl_key_password.get_secret_value() or None
        try:
            context.load_cert_chain(str(settings.ssl_certfile), str(settings.ssl_keyfile), password)
        except ssl.SSLError as exc:
            raise ConfigError(
                "LEARNSTREAM_KAFKA__SSL_CERTFILE / __SSL_KEYFILE / __SSL_KEY_PASSWORD: the certificate and key do "
                f"not load together ({exc.reason})"
            ) from None
    return context


def kafka_python_security(settings: KafkaSettings) -> dict[str, Any]:
    """kafka-python's arguments (KafkaProducer, KafkaConsumer, KafkaAdminClient)."""
    options: dict[str, Any] = {"security_protocol": settings.security_protocol}
    if uses_tls(settings):
        options["ssl_context"] = tls_context(settings)
        options["ssl_check_hostname"] = settings.ssl_check_hostname
    if uses_sasl(settings):
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    return options


def aiokafka_security(settings: KafkaSettings) -> dict[str, Any]:
    """aiokafka's arguments (AIOKafkaProducer): the same names but for the TLS context."""
    options: dict[str, Any] = {"security_protocol": settings.security_protocol}
    if uses_tls(settings):
        options["ssl_context"] = tls_context(settings)
    if uses_sasl(settings):
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    return options


def faust_credentials(settings: KafkaSettings) -> Any:
    """faust's `broker_credentials` (which it hands to aiokafka), or None for PLAINTEXT."""
    import faust  # late: only the worker needs faust

    if uses_sasl(settings):
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password.get_secret_value(),
            mechanism=settings.sasl_mechanism,
            ssl_context=tls_context(settings),  # SASL_SSL with a context, SASL_PLAINTEXT without
        )
    if uses_tls(settings):
        return faust.SSLCredentials(tls_context(settings))
    return None
