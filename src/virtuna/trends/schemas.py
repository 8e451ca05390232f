"""API shapes for computed trends."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from virtuna.engine.types import TrendPhase


class SnapshotInfo(BaseModel):
    id: uuid.UUID
    as_of: datetime = Field(description="Trends describe the data as of this scrape time.")
    computed_at: datetime
    algorithm: str
    windows: list[int] = Field(description="Window lengths computed, in days.")
    totals: dict[int, int] = Field(description="Videos created inside each window.")


class _Entry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    rank: int
    video_count: int = Field(description="Videos created in the current window.")
    total_views: int
    median_views: float | None
    velocity: float = Field(description="Growth of usage from the previous window (≥ -1).")
    views_velocity: float = Field(description="Growth of summed views from the previous window.")
    phase: TrendPhase | None
    series: list[int] = Field(description="Video counts per window-long bucket, oldest first.")


class SoundEntry(_Entry):
    sound_key: str = Field(description="Id for /api/trending/sounds/{id}.")
    title: str
    author: str | None
    is_original: bool | None = Field(
        description="True: the creator's own audio; false: a commercial track (most are "
        "unavailable to business accounts); null: unknown."
    )


class HashtagEntry(_Entry):
    tag: str
    is_generic: bool = Field(description="Catch-all tags such as fyp or viral.")


class SoundPage(BaseModel):
    snapshot: SnapshotInfo
    window_days: int
    total: int
    items: list[SoundEntry]
    next_offset: int | None


class HashtagPage(BaseModel):
    snapshot: SnapshotInfo
    window_days: int
    total: int
    items: list[HashtagEntry]
    next_offset: int | None


class SoundHistoryPoint(BaseModel):
    as_of: datetime
    video_count: int
    total_views: int
    median_views: float | None
    velocity: float
    phase: TrendPhase | None


class SoundDetail(SoundEntry):
    history: list[SoundHistoryPoint] = Field(description="One point per snapshot, oldest first.")


class TrendStats(BaseModel):
    snapshot: SnapshotInfo | None
    snapshots: int
    latest_scrape: datetime | None
    window_days: int | None = None
    sound_phases: dict[str, int]
    hashtag_phases: dict[str, int]
