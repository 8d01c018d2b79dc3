"""Settings: the only reader of environment variables (all prefixed `ORDERLINE_`)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from .regions import RegionMap


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
    dynamodb_replica_regions: str = Field(
        "",
        pattern=r"^[a-z0-9, -]{0,500}$",
        description="Replica regions of the DynamoDB tables in order of preference "
        "(us-west-2,eu-west-1); reads fail over to them when the home region (aws_region) fails.",
    )
    dynamodb_region_endpoints: str = Field(
        "",
        max_length=4000,
        description="Per-region endpoints where they are not AWS's (emulators): "
        "us-east-1=http://127.0.0.1:8000,us-west-2=http://127.0.0.1:8001.",
    )
    region_failure_threshold: int = Field(
        3, ge=1, le=1000, description="Failed reads within the window that open a region's circuit."
    )
    region_failure_window_seconds: float = Field(
        10.0, gt=0, le=3600, description="The window in which a region's failed reads are counted."
    )
    region_open_seconds: float = Field(
        2.0, gt=0, le=3600, description="Seconds an open circuit waits before a half-open probe."
    )
    region_read_timeout_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="A read a region has not answered in this long is asked of the next region.",
    )
    forum_failover_writes: bool = Field(
        False,
        description="While the home region's circuit is open, forum writes go to the first "
        "replica region whose circuit is not (last writer wins; guards and counts per region: "
        "docs/deployment.md). Off: they answer 503 with Retry-After.",
    )
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
        description="After a commit, the API refreshes its cache and, when its own workers "
        "project (ORDERLINE_WORKERS on, no Kafka), projects the event in a background batch "
        "right after the response (best effort; the relay delivers it too).",
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
    aggregate: bool | None = Field(
        None,
        description="Count the status counters from the history table's stream inside `serve` "
        "(with its workers). Unset: on with a DynamoDB emulator (embedded or on this machine); "
        "against AWS run `orderline aggregate` or the Lambda of `tables export --counters-lambda`.",
    )
    stream_lease_seconds: float = Field(
        10.0,
        ge=1,
        le=600,
        description="A stream shard lease not renewed for this long is taken over by another "
        "aggregator (the holder renews it every third of it).",
    )
    stream_poll_seconds: float = Field(
        0.5,
        gt=0,
        le=60,
        description="How often an aggregator asks a stream shard for new records when the last "
        "call brought none (AWS allows 5 calls per second per shard).",
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
    cursor_secret: SecretStr | None = Field(
        None,
        description="Key that signs pagination cursors. Unset: a random key generated once "
        "into the data dir (set one shared by every API process in production).",
    )
    auth: bool = Field(
        True,
        description="Require a bearer JWT on every API call; false: no authentication (trusted "
        "networks and benchmarks only; logged as a warning at every start).",
    )
    jwt_jwks_url: str | None = Field(
        None,
        description="JWKS URL of the identity provider whose tokens the API accepts. Unset: "
        "tokens signed with the data dir's key (`orderline token issue`).",
    )
    jwt_issuer: str = Field("orderline", min_length=1, description="Required `iss` of tokens.")
    jwt_audience: str = Field(
        "orderline-api", min_length=1, description="Required `aud` of tokens."
    )
    jwt_leeway_seconds: float = Field(
        30.0, ge=0, le=300, description="Clock skew allowed on exp, nbf and iat."
    )
    rate_limit_per_second: float = Field(
        100.0,
        ge=0,
        le=1_000_000,
        description="Requests per second each principal may make on average; 0: no limit.",
    )
    rate_limit_burst: int = Field(
        200, ge=1, le=1_000_000, description="Requests a principal may make at once."
    )
    auth_failure_limit_per_minute: float = Field(
        30.0,
        ge=0,
        le=1_000_000,
        description="Failed authentications (bad tokens) each client address may make per "
        "minute on average; past it, new tokens from it get 429. 0: no limit.",
    )
    auth_failure_burst: int = Field(
        20,
        ge=1,
        le=1_000_000,
        description="Failed authentications a client address may make at once.",
    )
    jwt_jwks_failure_seconds: float = Field(
        10.0,
        ge=1,
        le=300,
        description="How long a failed JWKS fetch is remembered: meanwhile tokens that need the "
        "keys fetched get 503 at once.",
    )
    trusted_proxies: str = Field(
        "",
        pattern=r"^[0-9A-Fa-f.:/*, ]{0,2000}$",
        description="Comma-separated addresses or networks of reverse proxies whose "
        "X-Forwarded-For / X-Forwarded-Proto the API believes ('*': any). Empty: none; the "
        "client is the socket's peer.",
    )
    readiness_cache_seconds: float = Field(
        1.0, ge=0, le=60, description="How long /health/ready answers from its last check."
    )
    docs_access: Literal["loopback", "open", "off"] = Field(
        "loopback",
        description="Who gets /docs and /openapi.json: requests from this machine only, anyone, "
        "or no one.",
    )
    metrics_access: Literal["loopback", "open", "token"] = Field(
        "loopback",
        description="Who gets /metrics: requests from this machine (or with a token holding "
        "metrics:read), anyone, or only tokens with metrics:read.",
    )
    max_page_size: int = Field(100, ge=1, le=1000, description="Largest page a listing returns.")
    forum_snapshot: bool | None = Field(
        None,
        description="Snapshot the forum tables into the data dir (periodically and at shutdown) "
        "and restore them at start. Unset: only with the embedded (in-memory) DynamoDB.",
    )
    forum_snapshot_seconds: float = Field(
        60.0, ge=1, le=86400, description="Seconds between snapshots of the forum tables."
    )
    forum_cache_seconds: float = Field(
        1.0,
        ge=0,
        le=60,
        description="Seconds an API process serves a thread and its first page of posts from "
        "memory: what another process (or an import) wrote shows after at most this long; "
        "this process's own writes at once. 0: no cache.",
    )
    bench_endpoints: bool = Field(
        False, description="Serve the benchmark floors /bench/asgi and /bench/fastapi."
    )
    live_heartbeat_seconds: float = Field(
        15.0, gt=0, le=300, description="Seconds between heartbeat comments on an idle SSE stream."
    )
    live_queue_size: int = Field(
        256,
        ge=1,
        le=100_000,
        description="Changes queued per SSE subscriber; a subscriber that falls this far behind "
        "is disconnected with a final `resume` event.",
    )
    live_max_subscribers: int = Field(
        10_000,
        ge=0,
        le=1_000_000,
        description="Open SSE subscriptions per API process (429 past it).",
    )
    live_max_subscribers_per_principal: int = Field(
        32, ge=0, le=100_000, description="Open SSE subscriptions per principal (429 past it)."
    )
    live_retry_ms: int = Field(
        3000,
        ge=0,
        le=600_000,
        description="The `retry:` hint (milliseconds) sent to SSE clients, and with the final "
        "event of a stream closed at shutdown or for being slow.",
    )
    live_gap_grace_seconds: float = Field(
        0.5,
        ge=0,
        le=60,
        description="No longer used (kept for one release so existing configurations load): "
        "live tracking releases a change once every older transaction has ended, so it never "
        "waits for an outbox id that may have rolled back.",
    )
    live_poll_seconds: float = Field(
        5.0, gt=0, le=300, description="The live hub reads the outbox this often without NOTIFY."
    )
    live_max_stream_seconds: float = Field(
        3600.0,
        gt=0,
        le=86_400,
        description="The longest an SSE stream stays open; it then ends with a final `resume` "
        "event (a stream also ends when its token expires, with `reauthenticate`).",
    )
    live_max_replay_rows: int = Field(
        5000,
        ge=1,
        le=1_000_000,
        description="The most changes a stream replays after its Last-Event-ID; past it a "
        "`truncated` event says to reload, and the stream goes on live.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level of the service."
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        for entry in (part.strip() for part in value.split(",")):
            if entry and entry != "*":
                ipaddress.ip_network(entry, strict=False)  # ValueError names the bad entry
        return value

    @model_validator(mode="after")
    def _regions_are_consistent(self) -> Settings:
        self.regions()  # ValueError names the bad entry
        return self

    def regions(self) -> RegionMap:
        """The home region, then the replicas in order of preference, with their endpoints."""
        endpoints = self.dynamodb_region_endpoints
        return RegionMap.parse(
            self.aws_region, self.dynamodb_endpoint, self.dynamodb_replica_regions, endpoints
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
