"""outcome follow-ups: when a worker claimed the row (stale claims are reclaimed)

Revision ID: 0012
Revises: 0010
Create Date: 2026-11-28 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import virtuna.models.base

revision: str = "0012"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("outcome_follow_ups", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("claimed_at", virtuna.models.base.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("outcome_follow_ups", schema=None) as batch_op:
        batch_op.drop_column("claimed_at")
