"""Outbox: a restaurant stream's replay reads its own rows by index, in position order
((xid, id): migration 0005).

The expression is the one `live_feed.restaurant_of_row` queries, written the same way (the
planner matches an expression index only to the same expression). A plain CREATE INDEX: the
migration runs in one transaction, and retention keeps the outbox short.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "outbox_by_restaurant",
        "outbox",
        [sa.text("(payload -> 'payload' -> 'order' ->> 'restaurantId')"), "xid", "id"],
    )


def downgrade() -> None:
    op.drop_index("outbox_by_restaurant", table_name="outbox")
