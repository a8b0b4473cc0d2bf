"""Kafka client factories (kafka-python) and topic creation, with connection failures mapped to BrokerUnavailable."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailedError,
)

from learnstream.errors import BrokerUnavailable, ConfigError, ConnectorError, LearnstreamError
from learnstream.kafka_security import aiokafka_security, kafka_python_security
from learnstream.lz4_level import use_fast_lz4
from learnstream.partitioning import MemoisedAiokafkaPartitioner, MemoisedPartitioner
from learnstream.settings import KafkaSettings, LoaderSettings, ProducerSettings, TopicSettings

logger = logging.getLogger(__name__)

BOOTSTRAP_VARIABLE = "LEARNSTREAM_KAFKA__BOOTSTRAP_SERVERS"
AuthorizationErrors = (
    TopicAuthorizationFailedError,
    GroupAuthorizationFailedError,
    ClusterAuthorizationFailedError,
    TransactionalIdAuthorizationFailedError,
)


#: What kafka-python logs (and does not raise) when a connection fails for a reason an operator must fix.
_REFUSED_CREDENTIALS = ("SaslAuthenticationFailedError", "Authentication failed")
_UNTRUSTED_BROKER = ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed", "SSLCertVerificationError")
_UNSUPPORTED_MECHANISM = ("UnsupportedSaslMechanismError",)


def kafka_failure(settings: KafkaSettings | None, exc: Exception, logged: Iterable[str] = ()) -> LearnstreamError:
    """The error a Kafka client's failure is to an operator: refused credentials, an untrusted broker, a missing
    ACL (ConfigError, naming the setting or the ACL to fix), or an unreachable broker (BrokerUnavailable).
    `logged`: what kafka-python logged meanwhile (it reports a failed login only there, and raises a timeout)."""
    said = " ".join([*logged, repr(exc)])
    where = f"Kafka at {settings.bootstrap_servers}" if settings else "Kafka"
    if isinstance(exc, AuthorizationErrors):
        user = f"the user {settings.sasl_username!r}" if settings and settings.sasl_username else "this client"
        return ConfigError(
            f"{where} denied {user} an operation ({type(exc).__name__}); grant it the ACL it needs (README: Kafka "
            "ACLs) or use the credentials of a user that has it (LEARNSTREAM_KAFKA__SASL_USERNAME)"
        )
    if any(sign in said for sign in _REFUSED_CREDENTIALS):
        user = settings.sasl_username if settings else "?"
        mechanism = settings.sasl_mechanism if settings else "?"
        return ConfigError(
            f"{where} refused the credentials of {user!r} ({mechanism}): check LEARNSTREAM_KAFKA__SASL_PASSWORD "
            "(and __SASL_USERNAME, __SASL_MECHANISM)"
        )
    if settings is not None and settings.security_protocol.startswith("SASL") and "socket disconnected" in said:
        # the broker sends why it refused a login, then closes; the client sometimes sees only the close
        return ConfigError(
            f"{where} closed every connection once it was open, as it does when it refuses a login: check "
            f"LEARNSTREAM_KAFKA__SASL_PASSWORD for {settings.sasl_username!r} (and __SASL_USERNAME, __SASL_MECHANISM, "
            "__SECURITY_PROTOCOL)"
        )
    if any(sign in said for sign in _UNSUPPORTED_MECHANISM):
        return ConfigError(f"{where} does not offer this SASL mechanism: check LEARNSTREAM_KAFKA__SASL_MECHANISM")
    if any(sign in said for sign in _UNTRUSTED_BROKER):
        return ConfigError(
            f"{where}: TLS failed, the broker's certificate is not signed by a trusted CA or does not name the host; "
            "check LEARNSTREAM_KAFKA__SSL_CAFILE and __SSL_CHECK_HOSTNAME"
        )
    hint = (
        f"start the broker or set {BOOTSTRAP_VARIABLE}"
        if settings is None or settings.security_protocol != "PLAINTEXT"
        else f"start the broker or set {BOOTSTRAP_VARIABLE} (and LEARNSTREAM_KAFKA__SECURITY_PROTOCOL if it wants "
        "TLS or SASL)"
    )
    return BrokerUnavailable(f"cannot reach {where} ({exc}); {hint}")


class _Connecting(logging.Handler):
    """On the `kafka` logger while any client connects: keeps what kafka-python logs for a connecting client
    (warnings and up, for `kafka_failure`), from the calling thread and from the client's own IO thread, which
    kafka-python 3 names `kafka-io-<client id>` and where it logs a refused login; every other record passes on as
    if nothing were installed, so a process whose threads connect while others work (serve) loses no log line."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.guard = threading.Lock()
        self.by_thread: dict[int, list[str]] = {}  # the threads connecting now
        self.by_io_thread: dict[str, list[str]] = {}  # the IO threads of the clients they connect
        self.propagate = True  # the `kafka` logger's own setting, given back when the last connect is done

    def emit(self, record: logging.LogRecord) -> None:
        messages = self.by_thread.get(record.thread or 0)
        if messages is None:
            messages = self.by_io_thread.get(record.threadName or "")
        if messages is None:
            logging.getLogger().handle(record)  # where propagation would have taken it
        elif record.levelno >= logging.WARNING:
            messages.append(record.getMessage())

    def enter(self, thread: int, client_ids: tuple[str, ...]) -> tuple[list[str], bool]:
        """Start keeping the records of a connect; (its list, whether the thread was connecting already)."""
        kafka_logger = logging.getLogger("kafka")
        with self.guard:
            if not self.by_thread:
                self.propagate, kafka_logger.propagate = kafka_logger.propagate, False
                kafka_logger.addHandler(self)
            nested = thread in self.by_thread
            messages = self.by_thread.setdefault(thread, [])
            for client_id in client_ids:
                self.by_io_thread[f"kafka-io-{client_id}"] = messages
            return messages, nested

    def leave(self, thread: int, client_ids: tuple[str, ...], nested: bool) -> None:
        """Stop keeping them; the last connect out puts the `kafka` logger back as it was."""
        kafka_logger = logging.getLogger("kafka")
        with self.guard:
            for client_id in client_ids:
                if self.by_io_thread.get(f"kafka-io-{client_id}") is self.by_thread.get(thread):
                    self.by_io_thread.pop(f"kafka-io-{client_id}", None)
            if not nested:
                self.by_thread.pop(thread, None)
            if not self.by_thread:
                self.by_io_thread.clear()
                kafka_logger.removeHandler(self)
                kafka_logger.propagate = self.propagate


_CONNECTING = _Connecting()


def client_id_of(client: Any) -> str:
    """The client id a kafka-python client was made with (its IO thread is named after it)."""
    return str(client.config["client_id"])


@contextmanager
def connecting(settings: KafkaSettings, *client_ids: str) -> Iterator[None]:
    """While clients connect or make their first requests, kafka-python's retries are kept out of the log (they
    say the same thing many times); a failure becomes one error naming what to fix, read from them
    (`kafka_failure`). Held back: the calling thread's records and those of the IO threads of `client_ids` (the
    clients being made or used); other threads log as usual."""
    thread = threading.get_ident()
    logged, nested = _CONNECTING.enter(thread, client_ids)
    try:
        yield
    except KafkaError as exc:
        raise kafka_failure(settings, exc, list(logged)) from exc
    finally:
        _CONNECTING.leave(thread, client_ids, nested)


def _common(settings: KafkaSettings, client_suffix: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": settings.bootstrap_servers.split(","),
        "client_id": f"{settings.client_id}-{client_suffix}",
        "request_timeout_ms": settings.request_timeout_ms,
        "bootstrap_timeout_ms": int(settings.connect_timeout_s * 1000),
        **kafka_python_security(settings),
    }


def make_producer(
    settings: KafkaSettings,
    client_suffix: str = "producer",
    tuning: ProducerSettings | None = None,
    **overrides: Any,
) -> KafkaProducer:
    """An idempotent producer with acks=all: a retried send never duplicates a record in its partition.

    Batching and compression come from `tuning` (the connectors' producer settings by default); keys are
    partitioned exactly as kafka-python's default partitioner does, with the key hash memoised.
    """
    tuning = tuning or ProducerSettings()
    config: dict[str, Any] = {
        **_common(settings, client_suffix),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": tuning.linger_ms,
        "batch_size": tuning.batch_bytes,
        "compression_type": None if tuning.compression == "none" else tuning.compression,
        "max_in_flight_requests_per_connection": 5,
        "partitioner": MemoisedPartitioner(settings.partitioner_cache_size),
        **overrides,
    }
    with connecting(settings, config["client_id"]):
        return KafkaProducer(**config)


def make_async_producer(
    settings: KafkaSettings,
    tuning: ProducerSettings,
    client_suffix: str,
    max_request_size: int,
    partitioner: MemoisedAiokafkaPartitioner | None = None,
) -> AIOKafkaProducer:
    """The asyncio twin of `make_producer` (aiokafka), for the HTTP receivers: idempotent, acks=all, the same
    batching, compression and partitioning, so a record lands on the same partition whichever client sent it.

    Not started: the caller starts it inside its event loop (and retries while the broker cannot be reached).
    lz4 is the fast level kafka-python uses (learnstream/lz4_level.py), not aiokafka's level 9.
    """
    use_fast_lz4()
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers.split(","),
        client_id=f"{settings.client_id}-{client_suffix}",
        request_timeout_ms=settings.request_timeout_ms,
        acks="all",
        enable_idempotence=True,
        linger_ms=tuning.linger_ms,
        max_batch_size=tuning.batch_bytes,
        max_request_size=max_request_size,
        compression_type=None if tuning.compression == "none" else tuning.compression,
        partitioner=partitioner or MemoisedAiokafkaPartitioner(settings.partitioner_cache_size),
        **aiokafka_security(settings),
    )


def make_dead_letter_producer(
    settings: KafkaSettings, topics: TopicSettings, tuning: ProducerSettings, client_suffix: str = "dlq"
) -> KafkaProducer:
    """A producer for the dead-letter topic: its requests fit the dead letter of the largest record a topic holds."""
    return make_producer(settings, client_suffix, tuning, max_request_size=topics.dlq_max_message_bytes)


def make_consumer(
    settings: KafkaSettings, group_id: str, topics: Iterable[str], client_suffix: str = "consumer", **overrides: Any
) -> KafkaConsumer:
    """A consumer in a group with manual commits: callers commit only after their output is durable."""
    config: dict[str, Any] = {
        **_common(settings, client_suffix),
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
        **overrides,
    }
    with connecting(settings, config["client_id"]):
        consumer = KafkaConsumer(**config)
    consumer.subscribe(list(topics))
    return consumer


def loader_membership(loader: LoaderSettings) -> dict[str, Any]:
    """The loader's group membership options: its session timeout, and static membership when it has an id."""
    options: dict[str, Any] = {"session_timeout_ms": int(loader.session_timeout_s * 1000)}
    if loader.instance_id is not None:
        options["group_instance_id"] = loader.instance_id
    return options


def make_reader(settings: KafkaSettings, client_suffix: str = "reader") -> KafkaConsumer:
    """A consumer in no group, for reading a topic from partitions the caller assigns (compacted state topics)."""
    config: dict[str, Any] = {
        **_common(settings, client_suffix),
        "group_id": None,
        "enable_auto_commit": False,
        "isolation_level": "read_committed",
    }
    with connecting(settings, config["client_id"]):
        return KafkaConsumer(**config)


def partitions_of(reader: KafkaConsumer, topic: str, missing: str) -> list[TopicPartition]:
    """The topic's partitions in order; ConnectorError saying `missing` when it has none (it does not exist, or
    Kafka's ACLs hide it from this user)."""
    partitions = [TopicPartition(topic, number) for number in sorted(reader.partitions_for_topic(topic) or ())]
    if not partitions:
        raise ConnectorError(missing)
    return partitions


def read_to_end(
    settings: KafkaSettings, topic: str, client_suffix: str, timeout_s: float, missing: str
) -> Iterator[tuple[bytes | None, bytes | None]]:
    """The key and value of every record of a topic, from its beginning to the end offsets it had when the read
    began (a compacted state topic read back). Raises ConnectorError saying `missing` when the topic does not
    exist, and BrokerUnavailable when the read fails or takes longer than `timeout_s`."""
    reader = make_reader(settings, client_suffix)
    try:
        partitions = partitions_of(reader, topic, missing)
        reader.assign(partitions)
        reader.seek_to_beginning(*partitions)
        ends = reader.end_offsets(partitions)
        deadline = time.monotonic() + timeout_s
        while any(reader.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise BrokerUnavailable(f"reading {topic} took longer than {timeout_s:.0f} s")
            for records in reader.poll(timeout_ms=200).values():
                for record in records:
                    yield record.key, record.value
    except KafkaError as exc:
        raise BrokerUnavailable(f"cannot read {topic}: {exc}") from exc
    finally:
        reader.close()


T = TypeVar("T")


def read_latest(
    settings: KafkaSettings,
    topic: str,
    client_suffix: str,
    timeout_s: float,
    missing: str,
    parse: Callable[[bytes], T],
) -> dict[bytes, T]:
    """The latest record of every key of a compacted topic, parsed; a record without a value forgets its key, and
    a record without a key or that `parse` refuses (ValueError, TypeError) is skipped with a warning."""
    latest: dict[bytes, T] = {}
    skipped = 0
    for key, value in read_to_end(settings, topic, client_suffix, timeout_s, missing):
        if key is None:
            skipped += 1
        elif value is None:
            latest.pop(key, None)
        else:
            try:
                latest[key] = parse(value)
            except (ValueError, TypeError):
                skipped += 1
    if skipped:
        logger.warning("skipped %d unreadable records on %s", skipped, topic)
    return latest


def make_admin(settings: KafkaSettings) -> KafkaAdminClient:
    """An admin client; raises BrokerUnavailable naming the setting when the cluster cannot be reached."""
    config = _common(settings, "admin")
    with connecting(settings, config["client_id"]):
        return KafkaAdminClient(**config)


def check_broker(settings: KafkaSettings) -> None:
    """Fail fast, with the setting to fix, when no broker answers a metadata request or it refuses this client."""
    admin = make_admin(settings)
    try:
        with connecting(settings, client_id_of(admin)):
            admin.describe_cluster()
    finally:
        admin.close()


def topic_configs(topics: TopicSettings, name: str) -> dict[str, str]:
    """Retention and record size of a topic; a dead letter must fit any record it sets aside, base64 and all.

    The directory and connector-state topics are compacted instead of expiring: the latest record of every
    person and every connector's last cursor stay. The pending-notification topic is a queue, not state: it expires
    like the activity topics, so its retention bounds how long a fetch half may stay down without losing work. The
    thread-state topic is both: compacted (the latest state of a thread) and expiring with the threads; so is the
    ledger of replayed dead letters, which expires with the dead letters it names.
    """
    names = topics.names
    if name == names.activity_dlq:
        return {"retention.ms": str(topics.dlq_retention_ms), "max.message.bytes": str(topics.dlq_max_message_bytes)}
    if name in (names.directory, names.connector_state):
        return {"cleanup.policy": "compact", "max.message.bytes": str(topics.max_message_bytes)}
    if name == names.activity_raw:
        return {"retention.ms": str(topics.raw_retention_ms), "max.message.bytes": str(topics.max_message_bytes)}
    if name == names.dlq_replays:
        return {"cleanup.policy": "compact,delete", "retention.ms": str(topics.dlq_retention_ms)}
    if name == names.thread_state:
        return {
            "cleanup.policy": "compact,delete",
            "retention.ms": str(topics.thread_retention_ms),
            "max.message.bytes": str(topics.max_message_bytes),
        }
    return {"retention.ms": str(topics.retention_ms), "max.message.bytes": str(topics.max_message_bytes)}


def ensure_topics(kafka: KafkaSettings, topics: TopicSettings) -> list[str]:
    """Create the pipeline's topics if missing; returns the names created. Existing topics are left as they are."""
    names = topics.names
    wanted = [
        NewTopic(
            name=name,
            num_partitions=topics.partitions,
            replication_factor=topics.replication_factor,
            topic_configs=topic_configs(topics, name),
        )
        for name in names.all()
    ]
    admin = make_admin(kafka)
    try:
        with connecting(kafka, client_id_of(admin)):
            existing = set(admin.list_topics())
            missing = [topic for topic in wanted if topic.name not in existing]
            if missing:
                try:
                    admin.create_topics(missing)
                except TopicAlreadyExistsError:
                    logger.info("topics created concurrently by another process", extra={"topics": names.all()})
        created = [topic.name for topic in missing]
    finally:
        admin.close()
    for name in created:
        logger.info("created topic %s", name)
    return created
