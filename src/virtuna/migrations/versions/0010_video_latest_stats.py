"""videos: sound key and latest stats maintained by ingest (fast trend queries); drop the
redundant video_stats.video_id index

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 04:35:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import virtuna.models.base
from virtuna.engine.features import sound_key

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

BATCH = 5000


def upgrade() -> None:
    with op.batch_alter_table("videos") as batch:
        batch.add_column(sa.Column("sound_key", sa.String(length=600), nullable=True))
        batch.add_column(
            sa.Column(
                "first_scraped_at", virtuna.models.base.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch.add_column(
            sa.Column(
                "latest_scraped_at", virtuna.models.base.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch.add_column(sa.Column("latest_views", sa.BigInteger(), nullable=True))
        batch.create_index(batch.f("ix_videos_sound_key"), ["sound_key"], unique=False)
    # Redundant with uq_video_stats_video_id_scraped_at (same leading column); one fewer
    # index to maintain per ingested snapshot.
    with op.batch_alter_table("video_stats") as batch:
        batch.drop_index(batch.f("ix_video_stats_video_id"))
    _backfill()


def _backfill() -> None:
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "UPDATE videos SET "
            "first_scraped_at = (SELECT min(s.scraped_at) FROM video_stats s "
            "WHERE s.video_id = videos.id), "
            "latest_scraped_at = (SELECT max(s.scraped_at) FROM video_stats s "
            "WHERE s.video_id = videos.id)"
        )
    )
    bind.execute(
        sa.text(
            "UPDATE videos SET latest_views = (SELECT s.views FROM video_stats s "
            "WHERE s.video_id = videos.id AND s.scraped_at = videos.latest_scraped_at)"
        )
    )
    # The sound key is the engine's definition (Python), so it is filled in from Python.
    rows = bind.execute(sa.text("SELECT id, sound_id, sound_title, sound_author FROM videos")).all()
    update = sa.text("UPDATE videos SET sound_key = :key WHERE id = :id")
    values = [
        {"id": vid, "key": f"id:{sid}" if sid else sound_key(title, author)}
        for vid, sid, title, author in rows
    ]
    for start in range(0, len(values), BATCH):
        chunk = [v for v in values[start : start + BATCH] if v["key"] is not None]
        if chunk:
            bind.execute(update, chunk)


def downgrade() -> None:
    with op.batch_alter_table("video_stats") as batch:
        batch.create_index(batch.f("ix_video_stats_video_id"), ["video_id"], unique=False)
    with op.batch_alter_table("videos") as batch:
        batch.drop_index(batch.f("ix_videos_sound_key"))
        batch.drop_column("latest_views")
        batch.drop_column("latest_scraped_at")
        batch.drop_column("first_scraped_at")
        batch.drop_column("sound_key")
