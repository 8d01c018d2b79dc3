"""Settings -> each component's configuration (policies, caches, topics, auth, secrets): the one
place that turns several settings into one configuration object. The builders in the other
bootstrap modules take their configuration from here and pass single values (a table prefix, a
shard count) straight through."""

from __future__ import annotations

import logging

from ..adapters.dynamodb.circuit import CircuitPolicy
from ..adapters.dynamodb.client import is_emulator
from ..adapters.errors import StartupError
from ..adapters.kafka import KafkaTopics
from ..auth.authenticator import Authenticator
from ..auth.dev import DevSigner
from ..auth.jwks import InsecureJwksUrl, JwksKeys
from ..auth.limits import RateLimiter
from ..auth.tokens import KeySource, StaticKey, TokenVerifier
from ..config import Settings
from ..domain.order import Document
from ..live.hub import LivePolicy
from ..readmodel.cache import ReadCache
from ..readmodel.documents import Expiry
from ..secrets_store import local_secret, random_secret
from ..streams.counters import ConsumerOptions
from ..streams.reader import ReaderPolicy
from ..workers.relay import RelayPolicy
from ..workers.retention import RetentionPolicy

log = logging.getLogger(__name__)
COUNTS_CACHED = 64  # status-count ranges kept; each costs 28 Queries to compute


def expiry_of(settings: Settings) -> Expiry:
    return Expiry(
        status_hours=settings.read_model_ttl_hours, history_days=settings.history_ttl_days
    )


def circuit_policy(settings: Settings) -> CircuitPolicy:
    """When a region's read circuit opens, and how soon it is probed again."""
    return CircuitPolicy(
        threshold=settings.region_failure_threshold,
        window_seconds=settings.region_failure_window_seconds,
        open_seconds=settings.region_open_seconds,
    )


def read_cache(settings: Settings) -> ReadCache[Document]:
    """The status and details cache of the read path."""
    return ReadCache(
        settings.cache_size, settings.cache_ttl_seconds, settings.negative_cache_seconds
    )


def counts_cache(settings: Settings) -> ReadCache[Document]:
    """The cache of status counts (off when the read cache is off)."""
    return ReadCache(COUNTS_CACHED if settings.cache_size else 0, settings.cache_ttl_seconds, 0)


def relay_policy(settings: Settings) -> RelayPolicy:
    return RelayPolicy(
        batch_size=settings.relay_batch_size,
        poll_seconds=settings.relay_poll_seconds,
        max_attempts=settings.relay_max_attempts,
        backoff_seconds=settings.relay_backoff_seconds,
        backoff_max_seconds=settings.relay_backoff_max_seconds,
    )


def live_policy(settings: Settings) -> LivePolicy:
    return LivePolicy(
        queue_size=settings.live_queue_size,
        max_subscribers=settings.live_max_subscribers,
        max_per_principal=settings.live_max_subscribers_per_principal,
        heartbeat_seconds=settings.live_heartbeat_seconds,
        retry_ms=settings.live_retry_ms,
        poll_seconds=settings.live_poll_seconds,
        max_stream_seconds=settings.live_max_stream_seconds,
        max_replay_rows=settings.live_max_replay_rows,
    )


def retention_policy(settings: Settings) -> RetentionPolicy:
    return RetentionPolicy(
        outbox_days=settings.outbox_retention_days,
        idempotency_hours=settings.idempotency_key_hours,
        interval_seconds=settings.retention_interval_seconds,
        table_prefix=settings.table_prefix,
    )


def kafka_topics(settings: Settings) -> KafkaTopics:
    if settings.kafka_bootstrap_servers is None:
        raise ValueError("Kafka is not configured: set ORDERLINE_KAFKA_BOOTSTRAP_SERVERS")
    return KafkaTopics(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topic=settings.kafka_topic,
        partitions=settings.kafka_partitions,
        replication_factor=settings.kafka_replication_factor,
        group=settings.kafka_group,
        idempotence=settings.kafka_idempotence,
    )


def with_replay_default(configured: Settings, resolved: Settings) -> Settings:
    """`replay_on_start` unset: on only with the embedded emulator, which starts empty.

    `configured` is what the user set, `resolved` the same after embedded services started.
    """
    if resolved.forum_snapshot is None:  # the forum's tables live only in the emulator's memory
        resolved = resolved.with_overrides(forum_snapshot=configured.embedded_dynamodb)
    if resolved.replay_on_start is not None:
        return resolved
    return resolved.with_overrides(replay_on_start=configured.embedded_dynamodb)


def aggregates(settings: Settings) -> bool:
    """Whether `serve`'s workers count the counters: as configured, else with an emulator."""
    if settings.aggregate is not None:
        return settings.aggregate
    return settings.embedded_dynamodb or is_emulator(settings.dynamodb_endpoint)


def consumer_options(settings: Settings) -> ConsumerOptions:
    """How the counter aggregator reads the history stream."""
    return ConsumerOptions(
        lease_seconds=settings.stream_lease_seconds,
        reader=ReaderPolicy(poll_seconds=settings.stream_poll_seconds),
    )


def dev_signer(settings: Settings) -> DevSigner:
    """The data dir's signing key (embedded/dev deployments without a JWKS URL)."""
    return DevSigner(settings.data_dir, issuer=settings.jwt_issuer, audience=settings.jwt_audience)


def build_auth(settings: Settings) -> Authenticator:
    """Token verification (JWKS, or the dev key) and per-principal rate limits."""
    if not settings.auth:
        log.warning(
            "AUTHENTICATION IS OFF (ORDERLINE_AUTH=false): anyone who reaches the API "
            "may read and change every order"
        )
        return Authenticator(None)
    verifier = TokenVerifier(
        _token_keys(settings),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway=settings.jwt_leeway_seconds,
    )
    rate = settings.rate_limit_per_second
    failures = settings.auth_failure_limit_per_minute / 60
    return Authenticator(
        verifier,
        RateLimiter(rate, settings.rate_limit_burst) if rate else None,
        RateLimiter(failures, settings.auth_failure_burst) if failures else None,
    )


def _token_keys(settings: Settings) -> KeySource:
    """The identity provider's JWKS (https, or http on loopback only), or the dev key."""
    if not settings.jwt_jwks_url:
        return StaticKey(dev_signer(settings).public_key)
    try:
        return JwksKeys(settings.jwt_jwks_url, failure_seconds=settings.jwt_jwks_failure_seconds)
    except InsecureJwksUrl as exc:
        raise StartupError(str(exc)) from None


def cursor_secret(settings: Settings) -> bytes:
    """The key that signs cursors: configured, or generated once into the data dir."""
    if settings.cursor_secret is not None:
        return settings.cursor_secret.get_secret_value().encode()
    return local_secret(settings.data_dir / "cursor-secret", random_secret())
