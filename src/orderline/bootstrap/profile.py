"""`Profile`: what a process is for, and so what `bootstrap` opens, builds and starts for it.

| profile   | process                 | migrates, creates tables | DynamoDB      | parts          |
|-----------|-------------------------|--------------------------|---------------|----------------|
| API       | `serve`                 | yes                      | yes           | all            |
| RELAY     | `relay`                 | yes                      | without Kafka | read, workers  |
| PROJECTOR | `project`               | yes                      | yes           | read, workers  |
| TOOL      | tests, one-off commands | no                       | yes           | write, read,   |
|           |                         |                          |               | forum, live    |

Only API warms its cache and starts background work at start-up (write-through, forum
snapshots); RELAY and PROJECTOR run their loops through `Container.worker_loops`. TOOL works on
a deployment that exists: it changes no schema and starts nothing. API also counts the counters
from the history stream when `aggregates(settings)` (configured, else with an emulator).

`orderline aggregate` is a process kind without a profile: it needs DynamoDB only, so it has no
container (which stands on PostgreSQL); `bootstrap.open_aggregator` builds it.
"""

from __future__ import annotations

from enum import Enum

from ..config import Settings
from .settings_map import aggregates


class Profile(Enum):
    API = "api"
    RELAY = "relay"
    PROJECTOR = "projector"
    TOOL = "tool"

    @property
    def changes_schema(self) -> bool:
        """Migrate PostgreSQL and create missing DynamoDB tables at start."""
        return self is not Profile.TOOL

    @property
    def serves(self) -> bool:
        """Builds what the API serves: the write side (commands), the forum, live tracking."""
        return self in (Profile.API, Profile.TOOL)

    @property
    def starts_background(self) -> bool:
        """Starts write-through, forum snapshots and the cache warm-up at start."""
        return self is Profile.API

    @property
    def relays(self) -> bool:
        """Publishes the outbox (the relay loop and outbox retention)."""
        return self in (Profile.API, Profile.RELAY)

    @property
    def projects(self) -> bool:
        """Consumes the Kafka topic into DynamoDB (when Kafka is configured)."""
        return self in (Profile.API, Profile.PROJECTOR)

    def counts(self, settings: Settings) -> bool:
        """Builds and runs the counter aggregator on the history stream: API, when the settings
        say so (`settings_map.aggregates`: as configured, else with an emulator)."""
        return self is Profile.API and aggregates(settings)

    def needs_dynamodb(self, settings: Settings) -> bool:
        """A relay that publishes to Kafka never talks to DynamoDB; everything else does."""
        if settings.dynamodb_endpoint is None:
            return False
        return not (self is Profile.RELAY and settings.kafka_bootstrap_servers is not None)
