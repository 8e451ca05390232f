"""trend snapshots and apify runs

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 02:05:48.338020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import virtuna.models.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "apify_runs",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("actor_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.Column("dataset_id", sa.String(length=64), nullable=True),
        sa.Column(
            "input",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("started_at", virtuna.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", virtuna.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("items_seen", sa.Integer(), nullable=True),
        sa.Column(
            "ingest_report",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("ingested_at", virtuna.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", virtuna.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", virtuna.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apify_runs")),
        sa.UniqueConstraint("run_id", name=op.f("uq_apify_runs_run_id")),
    )
    with op.batch_alter_table("apify_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_apify_runs_job_id"), ["job_id"], unique=False)
    op.create_table(
        "trend_snapshots",
        sa.Column("as_of", virtuna.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("params", sa.String(length=200), nullable=False),
        sa.Column("source_rows", sa.BigInteger(), nullable=False),
        sa.Column(
            "windows",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "totals",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("computed_at", virtuna.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trend_snapshots")),
        sa.UniqueConstraint(
            "as_of",
            "algorithm",
            "params",
            "source_rows",
            name=op.f("uq_trend_snapshots_as_of_algorithm_params_source_rows"),
        ),
    )
    with op.batch_alter_table("trend_snapshots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trend_snapshots_as_of"), ["as_of"], unique=False)
    op.create_table(
        "trending_hashtags",
        sa.Column("snapshot_id", sa.Uuid(), nullable=False),
        sa.Column("tag", sa.String(length=200), nullable=False),
        sa.Column("is_generic", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("video_count", sa.Integer(), nullable=False),
        sa.Column("total_views", sa.BigInteger(), nullable=False),
        sa.Column("median_views", sa.Float(), nullable=True),
        sa.Column("velocity", sa.Float(), nullable=False),
        sa.Column("views_velocity", sa.Float(), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=True),
        sa.Column(
            "series",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["trend_snapshots.id"],
            name=op.f("fk_trending_hashtags_snapshot_id_trend_snapshots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trending_hashtags")),
        sa.UniqueConstraint(
            "snapshot_id",
            "window_days",
            "tag",
            name=op.f("uq_trending_hashtags_snapshot_id_window_days_tag"),
        ),
    )
    with op.batch_alter_table("trending_hashtags", schema=None) as batch_op:
        batch_op.create_index("ix_trending_hashtags_tag", ["tag", "window_days"], unique=False)
    op.create_table(
        "trending_sounds",
        sa.Column("snapshot_id", sa.Uuid(), nullable=False),
        sa.Column("sound_key", sa.String(length=600), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("author", sa.String(length=500), nullable=True),
        sa.Column("is_original", sa.Boolean(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("video_count", sa.Integer(), nullable=False),
        sa.Column("total_views", sa.BigInteger(), nullable=False),
        sa.Column("median_views", sa.Float(), nullable=True),
        sa.Column("velocity", sa.Float(), nullable=False),
        sa.Column("views_velocity", sa.Float(), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=True),
        sa.Column(
            "series",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["trend_snapshots.id"],
            name=op.f("fk_trending_sounds_snapshot_id_trend_snapshots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trending_sounds")),
        sa.UniqueConstraint(
            "snapshot_id",
            "window_days",
            "sound_key",
            name=op.f("uq_trending_sounds_snapshot_id_window_days_sound_key"),
        ),
    )
    with op.batch_alter_table("trending_sounds", schema=None) as batch_op:
        batch_op.create_index(
            "ix_trending_sounds_sound_key", ["sound_key", "window_days"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("trending_sounds", schema=None) as batch_op:
        batch_op.drop_index("ix_trending_sounds_sound_key")
    op.drop_table("trending_sounds")
    with op.batch_alter_table("trending_hashtags", schema=None) as batch_op:
        batch_op.drop_index("ix_trending_hashtags_tag")
    op.drop_table("trending_hashtags")
    with op.batch_alter_table("trend_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trend_snapshots_as_of"))
    op.drop_table("trend_snapshots")
    with op.batch_alter_table("apify_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_apify_runs_job_id"))
    op.drop_table("apify_runs")
