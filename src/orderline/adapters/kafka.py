"""Kafka: topic creation, an acks=all idempotent producer, and the consumer factory.

Messages: key = order id (so one order's events stay in one partition, in order), value = the
event envelope as JSON, headers eventId, eventType and version.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from orderline.domain.events import Envelope
from orderline.service_layer.event_bus import BusUnavailable

from .errors import StartupError

log = logging.getLogger(__name__)


class KafkaUnavailable(BusUnavailable):
    """The broker did not acknowledge in time; nothing may be assumed delivered."""


@dataclass(frozen=True)
class KafkaTopics:
    bootstrap_servers: str
    topic: str
    partitions: int = 6
    replication_factor: int = 1
    group: str = "orderline-projector"
    idempotence: bool = True

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.topic}.dead-letter"


async def ensure_topics(topics: KafkaTopics) -> list[str]:
    """Create the event and dead-letter topics when missing; return the created names."""
    admin = AIOKafkaAdminClient(bootstrap_servers=topics.bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(topics.topic, topics.partitions, topics.replication_factor),
            NewTopic(topics.dead_letter_topic, 1, topics.replication_factor),
        ]
        missing = [topic for topic in wanted if topic.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process was first
                await admin.create_topics(missing)
        return [topic.name for topic in missing]
    finally:
        await admin.close()


def encode(envelope: Envelope) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of one event."""
    headers = [
        ("eventId", str(envelope.get("eventId", "")).encode()),
        ("eventType", str(envelope.get("eventType", "")).encode()),
        ("version", str(envelope.get("version", "")).encode()),
    ]
    value = json.dumps(envelope, separators=(",", ":")).encode()
    return str(envelope.get("orderId", "")).encode(), value, headers


def decode(value: bytes | None) -> Any:
    """The envelope, or the undecodable text (the projector then rejects it)."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return value.decode("utf-8", "replace")


class KafkaPublisher:
    """Sends batches and returns only when the broker acknowledged every message (acks=all)."""

    def __init__(self, topics: KafkaTopics, *, timeout_seconds: float = 10.0) -> None:
        self._topics = topics
        self._producer = AIOKafkaProducer(
            bootstrap_servers=topics.bootstrap_servers,
            acks="all",
            enable_idempotence=topics.idempotence,
            linger_ms=2,
            request_timeout_ms=int(timeout_seconds * 1000),
        )
        self._started = False

    async def start(self) -> None:
        try:
            await self._producer.start()
        except KafkaError as exc:
            await self._producer.stop()
            if self._topics.idempotence and not isinstance(exc, KafkaConnectionError):
                raise StartupError(
                    f"Kafka at {self._topics.bootstrap_servers} refused the idempotent producer "
                    f"(InitProducerId: {type(exc).__name__}); brokers without it (tansu) need "
                    "ORDERLINE_KAFKA_IDEMPOTENCE=false"
                ) from exc
            raise
        self._started = True

    async def stop(self) -> None:
        if self._started:
            await self._producer.stop()
            self._started = False

    async def publish(self, envelopes: Sequence[Envelope]) -> dict[int, str]:
        """Kafka rejects nothing by content: the projector judges events (dead-letter topic)."""
        await self.send(self._topics.topic, [encode(envelope) for envelope in envelopes])
        return {}

    async def dead_letter(self, value: bytes, key: bytes | None, reason: str, origin: str) -> None:
        headers = [("error", reason[:1000].encode()), ("origin", origin.encode())]
        await self.send(self._topics.dead_letter_topic, [(key or b"", value, headers)])

    async def send(self, topic: str, messages: list[tuple[bytes, bytes, list[Any]]]) -> None:
        try:
            pending = [
                await self._producer.send(topic, value=value, key=key, headers=headers)
                for key, value, headers in messages
            ]
            for acknowledged in pending:
                await acknowledged
        except KafkaError as exc:
            raise KafkaUnavailable(f"{type(exc).__name__}: {exc}") from exc


def projector_consumer(topics: KafkaTopics, *, max_records: int = 500) -> AIOKafkaConsumer:
    """A consumer in the projectors' group that commits only what the caller commits."""
    return AIOKafkaConsumer(
        topics.topic,
        bootstrap_servers=topics.bootstrap_servers,
        group_id=topics.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_records,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        rebalance_timeout_ms=10000,
    )


@dataclass(frozen=True)
class DeadLetterReplay:
    moved: int
    next_offset: int


async def replay_dead_letters(topics: KafkaTopics, *, from_offset: int = 0) -> DeadLetterReplay:
    """Put the dead letters from `from_offset` up to the current end back on the event topic.

    The dead-letter topic has one partition; the returned `next_offset` is where the next replay
    should start, so that letters replayed once (and dead-lettered again) are not sent twice.
    """
    partition = TopicPartition(topics.dead_letter_topic, 0)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=topics.bootstrap_servers, enable_auto_commit=False
    )
    publisher = KafkaPublisher(topics)
    await consumer.start()
    await publisher.start()
    try:
        consumer.assign([partition])
        end = (await consumer.end_offsets([partition]))[partition]
        consumer.seek(partition, from_offset)
        moved = 0
        while await consumer.position(partition) < end:
            records = (await consumer.getmany(partition, timeout_ms=1000)).get(partition, [])
            records = [record for record in records if record.offset < end]
            await publisher.send(
                topics.topic, [(record.key or b"", record.value or b"", []) for record in records]
            )
            moved += len(records)
        return DeadLetterReplay(moved, max(end, from_offset))
    finally:
        await publisher.stop()
        await consumer.stop()
