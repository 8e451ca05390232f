"""Computed trend snapshots (versioned, immutable) and the Apify runs that feed the data.

A calculation writes one ``TrendSnapshotRun`` and its entries; nothing is updated in place,
so a scored analysis can always be traced to the snapshot it saw, and a sound's history is
the sequence of its entries across snapshots.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from virtuna.models.analyses import JSONType
from virtuna.models.base import Base, IdMixin, TimestampMixin, UTCDateTime, utcnow


class TrendSnapshotRun(IdMixin, Base):
    """One calculation: which data it saw (``as_of``, ``source_rows``) and how it was made."""

    __tablename__ = "trend_snapshots"
    # Recomputing the same data the same way is a no-op: one row per (as_of, algorithm,
    # parameters, stats rows seen).
    __table_args__ = (UniqueConstraint("as_of", "algorithm", "params", "source_rows"),)

    as_of: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    algorithm: Mapped[str] = mapped_column(String(32), nullable=False)
    params: Mapped[str] = mapped_column(String(200), nullable=False)  # windows, top N
    source_rows: Mapped[int] = mapped_column(BigInteger, nullable=False)
    windows: Mapped[list[int]] = mapped_column(JSONType, nullable=False)
    # Videos created inside each window, keyed by window length in days (as a string).
    totals: Mapped[dict[str, int]] = mapped_column(JSONType, nullable=False)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class _TrendEntry:
    """Columns shared by sound and hashtag entries."""

    window_days: Mapped[int] = mapped_column(Integer, nullable=False)
    rank: Mapped[int] = mapped_column(Integer, nullable=False)
    video_count: Mapped[int] = mapped_column(Integer, nullable=False)
    total_views: Mapped[int] = mapped_column(BigInteger, nullable=False)
    median_views: Mapped[float | None] = mapped_column(Float, nullable=True)
    velocity: Mapped[float] = mapped_column(Float, nullable=False)  # usage growth
    views_velocity: Mapped[float] = mapped_column(Float, nullable=False)
    phase: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Video counts per window-long bucket, oldest first; the last is the current window.
    series: Mapped[list[int]] = mapped_column(JSONType, nullable=False)


class TrendingSound(IdMixin, _TrendEntry, Base):
    __tablename__ = "trending_sounds"
    __table_args__ = (
        UniqueConstraint("snapshot_id", "window_days", "sound_key"),
        Index("ix_trending_sounds_sound_key", "sound_key", "window_days"),
    )

    snapshot_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("trend_snapshots.id", ondelete="CASCADE"), nullable=False
    )
    sound_key: Mapped[str] = mapped_column(String(600), nullable=False)
    title: Mapped[str] = mapped_column(String(500), nullable=False)
    author: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # True: the creator's own audio; False: a commercial track (business accounts can't use
    # most of those); None: the source did not say.
    is_original: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


class TrendingHashtag(IdMixin, _TrendEntry, Base):
    __tablename__ = "trending_hashtags"
    __table_args__ = (
        UniqueConstraint("snapshot_id", "window_days", "tag"),
        Index("ix_trending_hashtags_tag", "tag", "window_days"),
    )

    snapshot_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("trend_snapshots.id", ondelete="CASCADE"), nullable=False
    )
    tag: Mapped[str] = mapped_column(String(200), nullable=False)
    is_generic: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class ApifyRun(IdMixin, TimestampMixin, Base):
    """A scraper run we started (or heard about), with its last known status and ingest."""

    __tablename__ = "apify_runs"

    run_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    actor_id: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    # The job that started it: a retried start job finds its run instead of starting another.
    job_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    dataset_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    input: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    items_seen: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ingest_report: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    ingested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
