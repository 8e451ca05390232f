"""outcomes, follow-up scrapes, calibrators, calibration reports; ledger columns on analyses

Revision ID: 0007
Revises: 0003
Create Date: 2026-11-28 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import virtuna.models.base

revision: str = "0007"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "calibration_reports",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column(
            "report",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", virtuna.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calibration_reports")),
    )
    op.create_table(
        "calibrators",
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("engine_version", sa.String(length=32), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("input_mode", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "params",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("fit_rows", sa.Integer(), nullable=False),
        sa.Column("holdout_rows", sa.Integer(), nullable=False),
        sa.Column(
            "metrics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("activated_at", virtuna.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", virtuna.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calibrators")),
        sa.UniqueConstraint("version", name=op.f("uq_calibrators_version")),
    )
    with op.batch_alter_table("calibrators", schema=None) as batch_op:
        batch_op.create_index(
            "ix_calibrators_active_engine_version",
            ["active", "engine_version", "input_mode"],
            unique=False,
        )
    op.create_table(
        "outcome_follow_ups",
        sa.Column("analysis_id", sa.Uuid(), nullable=False),
        sa.Column("checkpoint", sa.String(length=8), nullable=False),
        sa.Column("posted_url", sa.String(length=2048), nullable=False),
        sa.Column("due_at", virtuna.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("finished_at", virtuna.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", virtuna.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["analysis_id"],
            ["analyses.id"],
            name=op.f("fk_outcome_follow_ups_analysis_id_analyses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcome_follow_ups")),
        sa.UniqueConstraint(
            "analysis_id", "checkpoint", name=op.f("uq_outcome_follow_ups_analysis_id_checkpoint")
        ),
    )
    with op.batch_alter_table("outcome_follow_ups", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outcome_follow_ups_status_due_at", ["status", "due_at"], unique=False
        )
    op.create_table(
        "outcomes",
        sa.Column("analysis_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("observed_at", virtuna.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("posted_at", virtuna.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("posted_url", sa.String(length=2048), nullable=True),
        sa.Column("views", sa.BigInteger(), nullable=True),
        sa.Column("likes", sa.BigInteger(), nullable=True),
        sa.Column("comments", sa.BigInteger(), nullable=True),
        sa.Column("shares", sa.BigInteger(), nullable=True),
        sa.Column("saves", sa.BigInteger(), nullable=True),
        sa.Column("avg_watch_seconds", sa.Float(), nullable=True),
        sa.Column("completion_rate", sa.Float(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", virtuna.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["analysis_id"],
            ["analyses.id"],
            name=op.f("fk_outcomes_analysis_id_analyses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_outcomes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcomes")),
        sa.UniqueConstraint(
            "analysis_id", "observed_at", name=op.f("uq_outcomes_analysis_id_observed_at")
        ),
    )
    with op.batch_alter_table("outcomes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outcomes_user_id_observed_at", ["user_id", "observed_at"], unique=False
        )
    with op.batch_alter_table("analyses", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "raw_tier_probabilities",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("calibrator_version", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("analyses", schema=None) as batch_op:
        batch_op.drop_column("calibrator_version")
        batch_op.drop_column("raw_tier_probabilities")
    with op.batch_alter_table("outcomes", schema=None) as batch_op:
        batch_op.drop_index("ix_outcomes_user_id_observed_at")
    op.drop_table("outcomes")
    with op.batch_alter_table("outcome_follow_ups", schema=None) as batch_op:
        batch_op.drop_index("ix_outcome_follow_ups_status_due_at")
    op.drop_table("outcome_follow_ups")
    with op.batch_alter_table("calibrators", schema=None) as batch_op:
        batch_op.drop_index("ix_calibrators_active_engine_version")
    op.drop_table("calibrators")
    op.drop_table("calibration_reports")
