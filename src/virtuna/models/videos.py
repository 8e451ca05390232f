"""Scraped TikTok videos, their time-stamped stats, and creators.

Stats live in snapshots (one row per video per scrape time) rather than on the video, so
growth between scrapes and point-in-time creator history can be computed.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from virtuna.models.analyses import JSONType
from virtuna.models.base import Base, IdMixin, UTCDateTime, utcnow


class Creator(IdMixin, Base):
    __tablename__ = "creators"

    handle: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    platform_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    nickname: Mapped[str | None] = mapped_column(String(200), nullable=True)
    verified: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    followers: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # latest seen
    followers_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class Video(IdMixin, Base):
    __tablename__ = "videos"
    __table_args__ = (Index("ix_videos_author_posted", "author_handle", "posted_at"),)

    tiktok_id: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    author_handle: Mapped[str] = mapped_column(String(64), nullable=False)
    caption: Mapped[str] = mapped_column(Text, nullable=False, default="")
    hashtags: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    sound_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    sound_title: Mapped[str | None] = mapped_column(String(500), nullable=True)
    sound_author: Mapped[str | None] = mapped_column(String(500), nullable=True)
    sound_original: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    duration_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    web_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    source: Mapped[str] = mapped_column(String(100), nullable=False)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # Maintained by ingest in the same upsert, so trend queries never scan the snapshots: the
    # trend identity of the sound (``trends.calculate.sound_identity``), when the video was
    # first and last scraped, and its views at the last scrape.
    sound_key: Mapped[str | None] = mapped_column(String(600), nullable=True, index=True)
    first_scraped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    latest_scraped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    latest_views: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class VideoHashtag(Base):
    """One row per (video, tag): lets trend queries group by tag in SQL."""

    __tablename__ = "video_hashtags"
    __table_args__ = (Index("ix_video_hashtags_tag_posted", "tag", "posted_at"),)

    video_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(200), primary_key=True)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class VideoStats(IdMixin, Base):
    """The counts of one video as read at one scrape time."""

    __tablename__ = "video_stats"
    __table_args__ = (UniqueConstraint("video_id", "scraped_at"),)

    # No index of its own: the unique (video_id, scraped_at) one serves lookups by video.
    video_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), nullable=False
    )
    scraped_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    views: Mapped[int] = mapped_column(BigInteger, nullable=False)
    likes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    shares: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    comments: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    saves: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    author_followers: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
