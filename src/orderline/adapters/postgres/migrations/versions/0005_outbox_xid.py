"""Outbox: the writing transaction's id with each row, so live tracking releases rows in commit
order (`xid < pg_snapshot_xmin(pg_current_snapshot())`) instead of waiting for id gaps.

Rows written before this migration get xid 0 (a constant default: no table rewrite), so a
pre-migration `Last-Event-ID` (a plain outbox id, read as position (0, id)) still resumes
exactly; new rows take `pg_current_xact_id()`.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE outbox ADD COLUMN xid xid8 NOT NULL DEFAULT '0'")
    op.execute("ALTER TABLE outbox ALTER COLUMN xid SET DEFAULT pg_current_xact_id()")
    op.create_index("outbox_xid_id", "outbox", [sa.text("xid"), sa.text("id")])


def downgrade() -> None:
    op.drop_index("outbox_xid_id", table_name="outbox")
    op.drop_column("outbox", "xid")
