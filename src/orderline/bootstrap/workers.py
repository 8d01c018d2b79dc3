"""How committed events travel: the outbox relay onto an event bus (Kafka when configured, else
the in-process bus that projects at once), and the Kafka projector that consumes the topic."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from ..adapters.in_process import InProcessEventBus
from ..adapters.kafka import KafkaPublisher, KafkaTopics, ensure_topics, projector_consumer
from ..config import Settings
from ..readmodel.projector import Projector
from ..readmodel.views import OrderViews
from ..service_layer.event_bus import EventBus
from ..workers.consumer import KafkaProjection
from ..workers.relay import Relay
from .profile import Profile
from .read_side import ReadSide
from .settings_map import kafka_topics, relay_policy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workers:
    """The relay (None when no bus can carry events) and, with Kafka, the publisher."""

    relay: Relay | None
    publisher: KafkaPublisher | None


async def open_workers(
    stack: AsyncExitStack,
    settings: Settings,
    profile: Profile,
    engine: AsyncEngine,
    read: ReadSide,
    notify_channel: str,
) -> Workers:
    """The bus and the relay onto it (a relaying profile); the Kafka publisher when configured."""
    bus, publisher = await open_event_bus(stack, settings, read.projector, read.views)
    relay = build_relay(settings, engine, bus, notify_channel) if profile.relays else None
    return Workers(relay, publisher)


def build_relay(
    settings: Settings, engine: AsyncEngine, bus: EventBus | None, notify_channel: str
) -> Relay | None:
    if bus is None:
        return None
    return Relay(engine, bus.publish, policy=relay_policy(settings), channel=notify_channel)


async def open_event_bus(
    stack: AsyncExitStack, settings: Settings, projector: Projector | None, views: OrderViews
) -> tuple[EventBus | None, KafkaPublisher | None]:
    """Kafka when configured, else the in-process bus (which needs DynamoDB); and the publisher."""
    if settings.kafka_bootstrap_servers:
        publisher = await stack.enter_async_context(_kafka_publisher(kafka_topics(settings)))
        return publisher, publisher
    if projector is not None:
        return InProcessEventBus(projector, observers=[views.observe]), None
    return None, None


def build_kafka_projection(
    settings: Settings, projector: Projector, publisher: KafkaPublisher, views: OrderViews
) -> KafkaProjection:
    """The Kafka consumer loop of a projector process (or of serve's workers)."""
    return KafkaProjection(
        projector_consumer(kafka_topics(settings)),
        projector,
        publisher,
        max_attempts=settings.projector_max_attempts,
        observers=[views.observe],
    )


@asynccontextmanager
async def _kafka_publisher(topics: KafkaTopics) -> AsyncIterator[KafkaPublisher]:
    created = await ensure_topics(topics)
    if created:
        log.info("created Kafka topics: %s", ", ".join(created))
    publisher = KafkaPublisher(topics)
    await publisher.start()
    try:
        yield publisher
    finally:
        await publisher.stop()
