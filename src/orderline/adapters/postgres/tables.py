"""The write model's tables (SQLAlchemy Core). Alembic migrations create them; this mirrors them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.types import UserDefinedType

metadata = MetaData()


class Xid8(UserDefinedType[str]):
    """PostgreSQL's 64-bit transaction id (`xid8`); read and bound as text."""

    cache_ok = True

    def get_col_spec(self, **_: object) -> str:
        return "xid8"


order_statuses = Table(
    "order_statuses",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("name", String(16), nullable=False, unique=True),
)

orders = Table(
    "orders",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("restaurant_id", String(64), nullable=False),
    Column("channel_id", String(64), nullable=False),
    Column("status", String(16), ForeignKey("order_statuses.name"), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total_amount", Numeric(14, 2), nullable=False),
    Column("street", String(200), nullable=False),
    Column("city", String(100), nullable=False),
    Column("postal_code", String(20), nullable=False),
    Column("latitude", Float, nullable=False),
    Column("longitude", Float, nullable=False),
    Column("estimated_delivery_time", DateTime(timezone=True)),
    Column("tracking_code", String(32)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
    Column("version", Integer, nullable=False),
)

order_items = Table(
    "order_items",
    metadata,
    Column(
        "order_id",
        UUID(as_uuid=True),
        ForeignKey("orders.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", SmallInteger, primary_key=True),
    Column("item_id", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", Numeric(12, 2), nullable=False),
    Column("total_price", Numeric(14, 2), nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("order_id", UUID(as_uuid=True), nullable=False),
    Column("order_version", Integer, nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("available_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("parked_at", DateTime(timezone=True)),
    # the writing transaction: live tracking releases rows older than every open transaction
    Column("xid", Xid8(), nullable=False, server_default=text("pg_current_xact_id()")),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("principal", String(255), primary_key=True),  # the token's subject: keys are its own
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", SmallInteger),
    Column("response", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

read_model_backups = Table(
    "read_model_backups",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("location", Text, nullable=False),
    Column("table_prefix", String(200), nullable=False),
    Column("outbox_position", BigInteger, nullable=False),
    Column("items", BigInteger, nullable=False),
    Column("tables", JSONB, nullable=False),
    Column("verified_at", DateTime(timezone=True), nullable=False),
)

outbox_retention = Table(
    "outbox_retention",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("pruned_through", BigInteger, nullable=False),
    Column("pruned_rows", BigInteger, nullable=False),
    Column("last_pruned_at", DateTime(timezone=True)),
)

table_migrations = Table(
    "table_migrations",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("source", String(255), nullable=False),
    Column("target", String(255), nullable=False),
    Column("transform", String(255), nullable=False),
    Column("phase", String(20), nullable=False),
    Column("backfilled", BigInteger, nullable=False),
    Column("history", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
