"""`Container`: what a process runs on, as per-context parts built for its profile.

The parts: `write` (commands), `read` (views, projector, counter aggregator, write-through,
table router), `workers` (relay, Kafka publisher), `forum` and `live`; a part a profile does not
need is None.
The API's routes each depend on one part (`entrypoints/api/deps.py`); tests and CLI commands
may use the shortcuts below (`container.views` is `container.read.views`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from sqlalchemy.ext.asyncio import AsyncEngine

from ..adapters.dynamodb import read_side_calls
from ..adapters.dynamodb.protocol import DynamoDBClient
from ..adapters.dynamodb.regions import RegionalClient
from ..adapters.kafka import KafkaPublisher
from ..auth.authenticator import Authenticator
from ..config import Settings
from ..forum.service import ForumService
from ..live.hub import Hub
from ..readmodel.ports import EventLog, OrderQueries
from ..readmodel.projector import Projector
from ..readmodel.routing import TableRouter
from ..readmodel.views import OrderViews
from ..readmodel.write_through import WriteThrough
from ..service_layer.dispatcher import CommandDispatcher
from ..service_layer.handlers import Clock
from ..streams.counters import CounterConsumer
from ..workers.relay import Relay
from ..workers.retention import RetentionLoop
from ..workers.runner import Loop
from .profile import Profile
from .read_side import ReadSide
from .settings_map import retention_policy
from .workers import Workers, build_kafka_projection
from .write_side import WriteSide

Probe = Callable[[], Awaitable[None]]


class PartMissing(RuntimeError):
    """A part this container's profile does not build was asked for."""


@dataclass
class Container:
    """Everything a process runs on, built once by `bootstrap` for one profile."""

    settings: Settings
    profile: Profile
    engine: AsyncEngine
    dynamodb: DynamoDBClient | None
    auth: Authenticator
    read: ReadSide
    write: WriteSide | None = None
    workers: Workers | None = None
    forum: ForumService | None = None  # None without DynamoDB, or when the profile serves none
    live: Hub | None = None  # the API's change fan-out (SSE); its loop runs in the API lifespan
    regions: RegionalClient | None = None  # reads: home region, failing over to replicas

    # -- shortcuts to the parts' members ------------------------------------------------------

    @property
    def commands(self) -> CommandDispatcher:
        return self._write_side().commands

    @property
    def clock(self) -> Clock:
        return self._write_side().clock

    @property
    def orders(self) -> OrderQueries:
        return self.read.orders

    @property
    def events(self) -> EventLog:
        return self.read.events

    @property
    def views(self) -> OrderViews:
        return self.read.views

    @property
    def projector(self) -> Projector | None:
        return self.read.projector

    @property
    def write_through(self) -> WriteThrough | None:
        return self.read.write_through

    @property
    def table_router(self) -> TableRouter:
        return self.read.table_router

    @property
    def aggregator(self) -> CounterConsumer | None:
        return self.read.aggregator

    @property
    def relay(self) -> Relay | None:
        return self.workers.relay if self.workers is not None else None

    @property
    def publisher(self) -> KafkaPublisher | None:
        return self.workers.publisher if self.workers is not None else None

    # -- what the process runs -----------------------------------------------------------------

    def worker_loops(self) -> list[Loop]:
        """The profile's loops: the counter aggregator (API, when it counts), the relay and
        retention (API, RELAY), and with Kafka the projector (API, PROJECTOR)."""
        loops: list[Loop] = []
        if self.aggregator is not None:
            loops.append(self.aggregator.run)
        if self.profile.relays and self.relay is not None:
            loops.append(self.relay.run)
            if self.settings.retention_interval_seconds > 0:
                loops.append(RetentionLoop(self.engine, retention_policy(self.settings)).run)
        if self.profile.projects and self.publisher is not None and self.projector is not None:
            projection = build_kafka_projection(
                self.settings, self.projector, self.publisher, self.views
            )
            loops.append(projection.run)
        return loops

    def readiness_probes(self) -> dict[str, Probe]:
        """One probe per dependency, PostgreSQL first; each raises when its service is down."""
        probes: dict[str, Probe] = {"postgres": self.orders.ping}
        if self.dynamodb is not None:
            probes["dynamodb"] = partial(read_side_calls.ping, self.dynamodb)
        if self.regions is not None and len(self.regions.links) > 1:
            for link in self.regions.links[1:]:
                probes[f"dynamodb:{link.name}"] = partial(read_side_calls.ping, link.client)
        return probes

    def region_states(self) -> dict[str, str]:
        """Each DynamoDB region's read circuit (closed, open, half-open), home first."""
        return dict(self.regions.states()) if self.regions is not None else {}

    def _write_side(self) -> WriteSide:
        if self.write is None:
            raise PartMissing(f"a {self.profile.name} container has no write side")
        return self.write
