"""Merge the per-domain migration branches into one head.

Revision ID: 0009
Revises: 0004, 0005, 0006, 0007, 0008
"""

from __future__ import annotations

revision: str = "0009"
down_revision: tuple[str, ...] = ("0004", "0005", "0006", "0007", "0008")
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
