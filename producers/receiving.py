"""The push-receiver runtime: read the request (within its size limit), let the receiver verify and map it,
publish what it made with the idempotent `acks=all` producer, and only then answer.

A request is acknowledged (2xx) only after the broker acknowledged every record, dead letter and pending
notification it produced;
when they cannot be published within the publish timeout the answer is `503` with `Retry-After`, so the sender
retries, and nothing acknowledged is ever lost. A retry of a request whose records did reach the broker before
the timeout publishes them again with the same activity ids, which the warehouse stores once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from aiohttp import web
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from learnstream import metrics
from learnstream.errors import BrokerUnavailable, RequestRejected
from learnstream.kafka import make_async_producer
from learnstream.partitioning import MemoisedAiokafkaPartitioner
from learnstream.record_batches import send_in_batches
from learnstream.settings import Settings
from producers.contracts import OutgoingRecord, PushReceiver, ReceivedRequest
from schemas.headers import sent_at_headers

logger = logging.getLogger(__name__)

#: What a 503 asks the sender to wait before retrying.
RETRY_AFTER_S = 5
#: How often a broker that could not be reached at start is tried again.
START_RETRY_S = 2.0


class Publisher:
    """The receivers' aiokafka producer: started in the server's event loop, retried until the broker answers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        names = settings.topics.names
        self.activity_topic = names.activity_raw
        self.dead_letter_topic = names.activity_dlq
        self.pending_topic = names.connector_pending
        self.timeout_s = settings.serve.publish_timeout_s
        self.max_request_size = settings.topics.dlq_max_message_bytes
        self.partitioner = MemoisedAiokafkaPartitioner(settings.kafka.partitioner_cache_size)
        self.producer: AIOKafkaProducer | None = None
        self._starting: asyncio.Task[None] | None = None

    def new_producer(self) -> AIOKafkaProducer:
        tuning = self.settings.producer.model_copy(update={"linger_ms": self.settings.serve.linger_ms})
        return make_async_producer(self.settings.kafka, tuning, "receivers", self.max_request_size, self.partitioner)

    def start(self) -> None:
        """Start connecting in the background: the server answers 503 until the producer has started."""
        self._starting = asyncio.get_running_loop().create_task(self._start_until_connected())

    async def _start_until_connected(self) -> None:
        while True:
            producer = self.new_producer()
            try:
                await producer.start()
            except KafkaError as exc:
                await producer.stop()
                logger.warning(
                    "cannot reach Kafka at %s (%s); receivers answer 503 until it can be reached",
                    self.settings.kafka.bootstrap_servers,
                    exc,
                )
                await asyncio.sleep(START_RETRY_S)
                continue
            self.producer = producer
            logger.info("receivers publish to %s", self.activity_topic)
            return

    async def stop(self) -> None:
        """Flush what is in flight and close (on shutdown)."""
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
        if self.producer is not None:
            await self.producer.stop()
            self.producer = None

    async def ready(self, timeout_s: float = 2.0) -> bool:
        """Whether the producer has started and the cluster answers a metadata request now."""
        if self.producer is None:
            return False
        try:
            return bool(await asyncio.wait_for(self.producer.client.force_metadata_update(), timeout_s))
        except (TimeoutError, KafkaError):
            return False

    async def publish(
        self,
        records: Sequence[OutgoingRecord],
        dead_letters: Sequence[OutgoingRecord],
        pending: Sequence[OutgoingRecord] = (),
    ) -> None:
        """Send the records, dead letters and pending notifications; wait for the broker to acknowledge all of them.
        Each topic's records go as one batch per partition (learnstream/record_batches.py)."""
        producer = self.producer
        if producer is None:
            raise BrokerUnavailable("the receivers' producer has not reached Kafka yet")
        try:
            async with asyncio.timeout(self.timeout_s):
                sends = []
                for topic, outgoing, headers in (
                    (self.activity_topic, records, sent_at_headers(time.time())),
                    (self.dead_letter_topic, dead_letters, []),
                    (self.pending_topic, pending, []),
                ):
                    sends += await send_in_batches(
                        producer, self.partitioner, topic, outgoing, headers, self.max_request_size
                    )
                await asyncio.gather(*sends)
        except (TimeoutError, KafkaError) as exc:
            raise BrokerUnavailable(f"the broker did not acknowledge within {self.timeout_s:.0f} s ({exc!r})") from exc


async def read_body(request: web.Request, limit: int) -> bytes | None:
    """The whole request body, or None once it is longer than `limit` (what is over the limit is not read).

    `content.read(n)` returns what has arrived so far, not n bytes: a body that comes in several TCP segments (a
    slow link, a chunked upload) needs one read per piece, else it is cut short and its signature or JSON fails."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = bytearray()
    while chunk := await request.content.read(limit + 1 - len(body)):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def receiver_route(receiver: PushReceiver, publisher: Publisher) -> web.RouteDef:
    """The POST route of one receiver: size check, verify and map, publish, then answer."""

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await read_body(request, receiver.max_body_bytes)
        if body is None:
            return too_large(receiver)
        headers = {name.lower(): value for name, value in request.headers.items()}
        received = ReceivedRequest(headers, body, time.time(), dict(request.query))
        try:
            if receiver.blocking:
                receipt = await asyncio.to_thread(receiver.receive, received)
            else:
                receipt = receiver.receive(received)
        except RequestRejected as exc:
            logger.warning("%s refused a request: %s", receiver.name, exc)
            retry = {"Retry-After": str(RETRY_AFTER_S)} if exc.status == 503 else None
            return web.Response(status=exc.status, text=f"{exc}\n", headers=retry)
        if receipt.records or receipt.dead_letters or receipt.pending:
            try:
                await publisher.publish(receipt.records, receipt.dead_letters, receipt.pending)
            except BrokerUnavailable as exc:
                metrics.CONNECTOR_ERRORS.labels(receiver.name).inc()
                metrics.CONNECTOR_LAST_ERROR.labels(receiver.name).set(time.time())
                metrics.CONNECTOR_UP.labels(receiver.name).set(0)
                logger.warning("%s: answering 503: %s", receiver.name, exc)
                return web.Response(
                    status=503, text="cannot publish now; retry later\n", headers={"Retry-After": str(RETRY_AFTER_S)}
                )
            count_published(receiver.name, publisher.activity_topic, receipt.records, receipt.dead_letters)
        return web.Response(status=receipt.status, body=receipt.body, content_type=receipt.content_type)

    return web.post(receiver.path, handle)


def count_published(
    name: str, topic: str, records: Sequence[OutgoingRecord], dead_letters: Sequence[OutgoingRecord]
) -> None:
    """The metrics of what a receiver (or the LRS) had acknowledged by the broker."""
    metrics.CONNECTOR_UP.labels(name).set(1)
    if records:
        metrics.CONNECTOR_ACTIVITIES.labels(name, topic).inc(len(records))
    for letter in dead_letters:
        metrics.CONNECTOR_DEAD_LETTERS.labels(name, metrics.dead_letter_reason(letter.value)).inc()


def too_large(receiver: PushReceiver) -> web.Response:
    """The answer to a body over the receiver's limit."""
    return web.Response(status=413, text=f"body larger than {receiver.max_body_bytes} bytes\n")
