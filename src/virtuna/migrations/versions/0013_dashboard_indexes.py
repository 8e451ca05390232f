"""analyses.created_at index: the admin dashboard's windows (last 7/28/30 days) scan by time

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 04:45:00
"""

from __future__ import annotations

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_analyses_created_at", "analyses", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_analyses_created_at", table_name="analyses")
