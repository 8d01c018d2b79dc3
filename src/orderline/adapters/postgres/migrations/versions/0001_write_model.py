"""Write model: orders, items, statuses, outbox, idempotency keys.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATUSES = [
    (1, "PENDING"),
    (2, "CONFIRMED"),
    (3, "PROCESSING"),
    (4, "SHIPPED"),
    (5, "DELIVERED"),
    (6, "CANCELLED"),
]


def upgrade() -> None:
    statuses = op.create_table(
        "order_statuses",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("name", sa.String(16), nullable=False, unique=True),
    )
    op.bulk_insert(statuses, [{"id": i, "name": name} for i, name in STATUSES])

    op.create_table(
        "orders",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("restaurant_id", sa.String(64), nullable=False),
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), sa.ForeignKey("order_statuses.name"), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("total_amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("street", sa.String(200), nullable=False),
        sa.Column("city", sa.String(100), nullable=False),
        sa.Column("postal_code", sa.String(20), nullable=False),
        sa.Column("latitude", sa.Float, nullable=False),
        sa.Column("longitude", sa.Float, nullable=False),
        sa.Column("estimated_delivery_time", sa.DateTime(timezone=True)),
        sa.Column("tracking_code", sa.String(32)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        sa.Column("version", sa.Integer, nullable=False),
        sa.CheckConstraint("version >= 1", name="orders_version_positive"),
        sa.CheckConstraint("total_amount >= 0", name="orders_total_not_negative"),
    )
    live = sa.text("deleted_at IS NULL")
    op.create_index(
        "orders_live_newest",
        "orders",
        [sa.text("created_at DESC"), sa.text("id DESC")],
        postgresql_where=live,
    )
    for column in ("customer_id", "restaurant_id", "status"):
        op.create_index(
            f"orders_live_by_{column}",
            "orders",
            [column, sa.text("created_at DESC"), sa.text("id DESC")],
            postgresql_where=live,
        )

    op.create_table(
        "order_items",
        sa.Column(
            "order_id",
            UUID(as_uuid=True),
            sa.ForeignKey("orders.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.SmallInteger, primary_key=True),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_price", sa.Numeric(12, 2), nullable=False),
        sa.Column("total_price", sa.Numeric(14, 2), nullable=False),
        sa.CheckConstraint("quantity > 0", name="order_items_quantity_positive"),
    )

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("order_id", UUID(as_uuid=True), nullable=False),
        sa.Column("order_version", sa.Integer, nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("parked_at", sa.DateTime(timezone=True)),
    )
    op.create_index(
        "outbox_unpublished",
        "outbox",
        ["id"],
        postgresql_where=sa.text("published_at IS NULL AND parked_at IS NULL"),
    )
    op.create_index("outbox_by_order", "outbox", ["order_id", "order_version"])

    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.SmallInteger),
        sa.Column("response", JSONB),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("idempotency_keys", "outbox", "order_items", "orders", "order_statuses"):
        op.drop_table(table)
