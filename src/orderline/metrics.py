"""Prometheus metrics of the process (one registry: the client library's default)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "orderline_http_requests_total",
    "HTTP requests handled, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "orderline_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route template and status code.",
    ["method", "route", "status"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
COMMANDS = Counter(
    "orderline_commands_total",
    "Commands handled, by command and outcome (ok or the domain error's name).",
    ["command", "outcome"],
)

FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# DynamoDB client (recorded by botocore event hooks, one sample per API call including retries)
DYNAMODB_CALLS = Counter(
    "orderline_dynamodb_calls_total",
    "DynamoDB API calls, by operation, table and outcome (ok, an error code or exception).",
    ["operation", "table", "outcome"],
)
DYNAMODB_LATENCY = Histogram(
    "orderline_dynamodb_call_duration_seconds",
    "Time of a DynamoDB API call including the client's retries, by operation and table.",
    ["operation", "table"],
    buckets=FAST_BUCKETS,
)
DYNAMODB_THROTTLES = Counter(
    "orderline_dynamodb_throttled_attempts_total",
    "Attempts DynamoDB throttled (each is retried by the client), by operation and table.",
    ["operation", "table"],
)
DYNAMODB_CAPACITY = Counter(
    "orderline_dynamodb_consumed_capacity_units_total",
    "Capacity units DynamoDB reported as consumed, by operation and table.",
    ["operation", "table"],
)

# Regions (adapters/dynamodb/regions.py): reads fail over from the home region to replicas
REGION_READS = Counter(
    "orderline_dynamodb_region_reads_total",
    "Reads asked of a DynamoDB region, by region and outcome (ok, failed, skipped: circuit open).",
    ["region", "outcome"],
)
REGION_CIRCUIT = Gauge(
    "orderline_dynamodb_region_circuit",
    "State of a region's read circuit: 0 closed, 1 half-open, 2 open.",
    ["region"],
)
REGION_FAILOVERS = Counter(
    "orderline_dynamodb_region_failovers_total",
    "Reads answered by a region other than the home region, by region.",
    ["region"],
)

# Relay
OUTBOX_BACKLOG = Gauge("orderline_outbox_backlog", "Outbox rows not yet published and not parked.")
OUTBOX_OLDEST_AGE = Gauge(
    "orderline_outbox_oldest_unpublished_age_seconds",
    "Age of the oldest unpublished, unparked outbox row (0 when none).",
)
OUTBOX_PARKED = Gauge("orderline_outbox_parked", "Outbox rows parked after too many failures.")
OUTBOX_PUBLISHED = Counter(
    "orderline_outbox_published_total", "Outbox rows published by this process's relay."
)
OUTBOX_FAILURES = Counter(
    "orderline_outbox_failures_total",
    "Relay publish failures, by scope: row (one event rejected) or batch (the bus was "
    "unreachable).",
    ["scope"],
)

# Projector
PROJECTED_EVENTS = Counter(
    "orderline_projected_events_total",
    "Events the projector handled, by outcome (applied, duplicate).",
    ["outcome"],
)
PROJECTION_LAG = Histogram(
    "orderline_projection_lag_seconds",
    "Time from an event's commit to its projection into DynamoDB.",
    buckets=(
        *(0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1),
        *(0.15, 0.2, 0.3, 0.5, 0.75, 1, 2.5, 5, 10, 30, 60),
    ),
)

# Read path
READS = Counter(
    "orderline_reads_total",
    "Read-path lookups, by view (status, details), tier (cache, dynamodb, postgres) and result.",
    ["view", "tier", "result"],
)
READ_FALLBACKS = Counter(
    "orderline_read_fallbacks_total",
    "Reads answered by PostgreSQL, by reason (miss, stale, expired, min_version, unavailable).",
    ["view", "reason"],
)
FILL_ERRORS = Counter(
    "orderline_read_fill_errors_total",
    "Failed best-effort writes of a PostgreSQL read back into DynamoDB.",
)
WRITE_THROUGH_ERRORS = Counter(
    "orderline_write_through_errors_total",
    "Failed best-effort projections after a commit (the relay delivers them later).",
)
WRITE_THROUGH_BACKLOG = Gauge(
    "orderline_write_through_backlog_events",
    "Committed events the write-through task has queued or is projecting right now.",
)
WRITE_THROUGH_SKIPPED = Counter(
    "orderline_write_through_skipped_events_total",
    "Events left to the relay because the write-through queue was full.",
)

# Kafka projector
CONSUMED = Counter(
    "orderline_consumed_events_total", "Events this projector consumed and committed."
)
DEAD_LETTERS = Counter(
    "orderline_dead_lettered_events_total",
    "Events sent to the dead-letter topic after the projector rejected them repeatedly.",
)
PROJECTOR_OUTAGES = Counter(
    "orderline_projector_outage_retries_total",
    "Batches the Kafka projector retried because DynamoDB (or the dead-letter topic) was "
    'unavailable (formerly counted in orderline_outbox_failures_total{scope="batch"}).',
)
CONSUMER_LAG = Gauge(
    "orderline_consumer_lag_events",
    "Events in a partition not yet consumed by this projector's group (highwater - position).",
    ["partition"],
)

# Live tracking (SSE)
LIVE_SUBSCRIBERS = Gauge(
    "orderline_live_subscribers",
    "Open Server-Sent-Events subscriptions in this process, by kind (order, restaurant, all).",
    ["kind"],
)
LIVE_EVENTS = Counter(
    "orderline_live_events_delivered_total",
    "Change events written to SSE subscribers (replayed or live), by subscription kind.",
    ["kind"],
)
LIVE_DISCONNECTS = Counter(
    "orderline_live_disconnects_total",
    "SSE subscriptions the server ended, by reason (slow: its queue was full; shutdown; "
    "expired: its token expired; lifetime: it reached ORDERLINE_LIVE_MAX_STREAM_SECONDS).",
    ["reason"],
)
LIVE_REFUSED = Counter(
    "orderline_live_refused_total",
    "SSE subscriptions refused with 429, by cap (process, principal).",
    ["cap"],
)
LIVE_RECONNECTS = Counter(
    "orderline_live_listen_reconnects_total",
    "Times the hub's LISTEN connection dropped and was re-established (then caught up).",
)
LIVE_DELIVERY_LAG = Histogram(
    "orderline_live_delivery_lag_seconds",
    "Time from an event's commit to the hub handing it to this process's subscribers.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
LIVE_STAGE = Histogram(
    "orderline_live_stage_seconds",
    "Where delivery time goes, by stage: wait (commit to the start of the outbox read that "
    "released the change), read (that query), release (read to handed to the subscribers' "
    "queues), queue (handed to taken by the stream), write (taken to written to the socket); "
    "notify (per read: its newest row's commit to the hub's wake-up, the NOTIFY's own delay); "
    "held (first seen committed but held back by an older open transaction, to released).",
    ["stage"],
    buckets=(
        *(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05),
        *(0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    ),
)
# Retention
OUTBOX_PRUNED = Counter(
    "orderline_outbox_pruned_total",
    "Published outbox rows deleted by retention (older than the retention period and covered "
    "by a verified read-model backup).",
)
OUTBOX_OLDEST_KEPT_AGE = Gauge(
    "orderline_outbox_oldest_kept_age_seconds",
    "Age of the oldest outbox row still kept (0 when the outbox is empty).",
)
IDEMPOTENCY_KEYS_EXPIRED = Counter(
    "orderline_idempotency_keys_expired_total",
    "Idempotency keys deleted after ORDERLINE_IDEMPOTENCY_KEY_HOURS.",
)

# DynamoDB Streams reader and the counter aggregator (streams/)
STREAM_RECORDS = Counter(
    "orderline_stream_records_total",
    "Stream records handed to a consumer, by consumer (counters).",
    ["consumer"],
)
STREAM_SHARDS_HELD = Gauge(
    "orderline_stream_shards_held",
    "Shard leases this process holds, by consumer.",
    ["consumer"],
)
STREAM_ITERATOR_RENEWALS = Counter(
    "orderline_stream_iterator_renewals_total",
    "Shard iterators renewed because they had expired (ExpiredIteratorException).",
    ["consumer"],
)
STREAM_TRIMMED = Counter(
    "orderline_stream_trimmed_total",
    "Times a shard's checkpoint was past the stream's 24 h retention: records were lost "
    "(repair with `orderline counters rebuild`).",
    ["consumer"],
)
STREAM_LEASES_LOST = Counter(
    "orderline_stream_leases_lost_total",
    "Shard leases lost to another reader (expired, or a checkpoint moved by someone else).",
    ["consumer"],
)
COUNTED_RECORDS = Counter(
    "orderline_counted_history_entries_total",
    "History entries the aggregator added to the status counters and gauges.",
)
COUNTER_LAG = Histogram(
    "orderline_counter_lag_seconds",
    "Time from an event's commit to its entry being counted in the status counters.",
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60, 300),
)
FORUM_CONFLICTS = Counter(
    "orderline_forum_conflicts_total",
    "Forum items another region's write overwrote within the replication window (last writer "
    "wins threw a version away), by table and the region that saw it.",
    ["table", "region"],
)
