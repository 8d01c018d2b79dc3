"""Settings: the only reader of environment variables (all prefixed `ORDERLINE_`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERLINE_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address the HTTP API listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port the HTTP API listens on.")
    data_dir: Path = Field(
        Path(".orderline"), description="Where the embedded PostgreSQL keeps its data."
    )
    database_url: SecretStr | None = Field(
        None,
        description="PostgreSQL URL (postgresql://user:pass@host:port/db). "
        "Unset: start the embedded PostgreSQL in the data dir.",
    )
    db_pool_size: int = Field(10, ge=1, le=200, description="Connections kept per process.")
    dynamodb_endpoint: str | None = Field(
        None,
        description="DynamoDB endpoint URL (DynamoDB Local, or https://dynamodb.REGION.amazonaws.com"
        " with AWS credentials from the usual AWS_* variables). Unset: start the embedded "
        "DynamoDB emulator on a free loopback port.",
    )
    aws_region: str = Field("us-east-1", description="AWS region of the DynamoDB tables.")
    table_prefix: str = Field(
        "orderline-",
        pattern=r"^[A-Za-z0-9_.-]{0,200}$",
        description="Prefix of every DynamoDB table name.",
    )
    dynamodb_retry_mode: Literal["adaptive", "standard", "legacy"] = Field(
        "adaptive", description="botocore retry mode of DynamoDB calls."
    )
    dynamodb_max_attempts: int = Field(3, ge=1, le=20, description="DynamoDB call attempts.")
    dynamodb_timeout_seconds: float = Field(
        2.0, gt=0, le=60, description="DynamoDB connect and read timeout."
    )
    read_model_ttl_hours: int = Field(
        72,
        ge=1,
        le=24 * 366,
        description="Hours an order-status/details item lives after its last change.",
    )
    history_ttl_days: int = Field(
        365, ge=1, le=3650, description="Days a status-history entry lives."
    )
    counter_shards: int = Field(
        4, ge=1, le=64, description="Shards per status counter item (spreads hot keys)."
    )
    cache_size: int = Field(
        100_000,
        ge=0,
        le=10_000_000,
        description="Entries in the in-process read cache; 0 turns it off.",
    )
    cache_ttl_seconds: float = Field(
        5.0, ge=0, le=3600, description="How long a cached read is served without asking DynamoDB."
    )
    cache_warm_orders: int = Field(
        0,
        ge=0,
        le=10_000_000,
        description="At start, the status of this many most recently updated orders is loaded "
        "from PostgreSQL into the cache (worth it with a long cache TTL).",
    )
    negative_cache_seconds: float = Field(
        1.0, ge=0, le=60, description="How long an unknown order id is remembered as unknown."
    )
    read_model: bool = Field(
        True,
        description="Serve reads through cache and DynamoDB; off: every read goes to PostgreSQL.",
    )
    write_through: bool = Field(
        True,
        description="After a commit, the API refreshes its cache and projects the event in a "
        "background batch right after the response (best effort; the relay delivers it too).",
    )
    relay_batch_size: int = Field(100, ge=1, le=1000, description="Outbox rows claimed per batch.")
    relay_poll_seconds: float = Field(
        1.0, gt=0, le=60, description="Relay poll interval when no notification arrives."
    )
    relay_max_attempts: int = Field(
        8, ge=1, le=100, description="Attempts before a failing outbox row is parked."
    )
    relay_backoff_seconds: float = Field(
        0.5, gt=0, le=60, description="First retry delay of a failing row; doubles per attempt."
    )
    relay_backoff_max_seconds: float = Field(
        60.0, gt=0, le=3600, description="Longest retry delay of a failing row or batch."
    )
    kafka_bootstrap_servers: str | None = Field(
        None,
        description="Kafka brokers (host:port,...). Unset: the in-process bus (the relay projects "
        "directly).",
    )
    kafka_topic: str = Field(
        "orderline.order-events",
        pattern=r"^[A-Za-z0-9._-]{1,200}$",
        description="Topic of the order events (keyed by order id).",
    )
    kafka_partitions: int = Field(
        6, ge=1, le=1000, description="Partitions of the topic when Orderline creates it."
    )
    kafka_replication_factor: int = Field(
        1, ge=1, le=10, description="Replication factor of topics Orderline creates."
    )
    kafka_idempotence: bool = Field(
        True,
        description="Idempotent producer (no duplicates from producer retries). Brokers without "
        "InitProducerId (tansu) need false; the projector dedupes either way.",
    )
    kafka_group: str = Field("orderline-projector", description="Consumer group of the projectors.")
    projector_max_attempts: int = Field(
        3, ge=1, le=100, description="Attempts at an event before it goes to the dead-letter topic."
    )
    metrics_port: int = Field(
        0, ge=0, le=65535, description="Port of /metrics for `relay` and `project`; 0: none."
    )
    workers: bool = Field(
        True, description="Run the relay (and in-process projector) inside `orderline serve`."
    )
    replay_on_start: bool | None = Field(
        None,
        description="Rebuild the read model from the outbox when serve starts. "
        "Unset: only with the embedded (in-memory) DynamoDB.",
    )
    outbox_retention_days: float = Field(
        7.0,
        ge=0,
        le=3650,
        description="Published outbox rows older than this are pruned, never past the outbox "
        "position of the newest verified read-model backup.",
    )
    idempotency_key_hours: float = Field(
        24.0, gt=0, le=24 * 366, description="How long an Idempotency-Key is remembered."
    )
    retention_interval_seconds: float = Field(
        300.0,
        ge=0,
        le=86400,
        description="How often `serve` prunes the outbox and expires idempotency keys; 0: never.",
    )
    cursor_secret: SecretStr = Field(
        SecretStr("orderline-dev-cursor-secret"),
        description="Key that signs pagination cursors; set it in production.",
    )
    max_page_size: int = Field(100, ge=1, le=1000, description="Largest page a listing returns.")
    bench_endpoints: bool = Field(
        False, description="Serve the benchmark floors /bench/asgi and /bench/fastapi."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level of the service."
    )

    @property
    def embedded_postgres(self) -> bool:
        return self.database_url is None

    @property
    def embedded_dynamodb(self) -> bool:
        return self.dynamodb_endpoint is None

    def with_overrides(self, **changes: Any) -> Settings:
        return self.model_copy(update=changes)

    def masked(self) -> dict[str, str]:
        """The effective configuration with secrets hidden, for `orderline config`."""
        shown: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "database_url" and value is not None:
                shown[name] = make_url(value.get_secret_value()).render_as_string(
                    hide_password=True
                )
            elif isinstance(value, SecretStr):
                shown[name] = "********"
            elif value is None:
                shown[name] = "(embedded)" if name in ("database_url", "dynamodb_endpoint") else ""
            else:
                shown[name] = str(value)
        return shown
