"""Retention and table migrations: verified read-model backups (the outbox position they cover),
how far the outbox was pruned, idempotency keys by age, live table-migration state.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "read_model_backups",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("table_prefix", sa.String(200), nullable=False),
        sa.Column("outbox_position", sa.BigInteger, nullable=False),
        sa.Column("items", sa.BigInteger, nullable=False),
        sa.Column("tables", JSONB, nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "outbox_retention",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("pruned_through", sa.BigInteger, nullable=False),
        sa.Column("pruned_rows", sa.BigInteger, nullable=False),
        sa.Column("last_pruned_at", sa.DateTime(timezone=True)),
    )
    op.create_index("idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    op.create_table(
        "table_migrations",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("transform", sa.String(255), nullable=False),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("backfilled", sa.BigInteger, nullable=False),
        sa.Column("history", JSONB, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("table_migrations")
    op.drop_index("idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_table("outbox_retention")
    op.drop_table("read_model_backups")
