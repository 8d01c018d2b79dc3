"""Idempotency keys per principal (issue 21, finding 5): the primary key becomes (principal, key),
so one principal's key neither answers nor blocks another's.

Rows written before this migration are attributed to the order's customer (a customer places
orders only for itself, so a customer's retry across the upgrade still replays); a row without
a stored response gets the empty principal, which no token has, and simply expires.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "idempotency_keys",
        sa.Column("principal", sa.String(255), nullable=False, server_default=""),
    )
    op.execute(
        "UPDATE idempotency_keys SET principal = COALESCE(response->>'customerId', '')"
        " WHERE principal = ''"
    )
    op.alter_column("idempotency_keys", "principal", server_default=None)
    op.drop_constraint("idempotency_keys_pkey", "idempotency_keys", type_="primary")
    op.create_primary_key("idempotency_keys_pkey", "idempotency_keys", ["principal", "key"])


def downgrade() -> None:
    # Two principals may hold the same key now: keep the oldest row of each key.
    op.execute(
        "DELETE FROM idempotency_keys AS newer USING idempotency_keys AS older"
        " WHERE newer.key = older.key AND (newer.created_at, newer.principal)"
        " > (older.created_at, older.principal)"
    )
    op.drop_constraint("idempotency_keys_pkey", "idempotency_keys", type_="primary")
    op.create_primary_key("idempotency_keys_pkey", "idempotency_keys", ["key"])
    op.drop_column("idempotency_keys", "principal")
