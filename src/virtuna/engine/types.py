"""Plain value types shared by the engine's stages, the service layer and training.

Everything here is immutable data: no I/O, no framework types. The service layer builds
these from the database; training builds the same values from scraped files, so a stage
sees identical inputs at training and at serving time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class TrendPhase(StrEnum):
    EMERGING = "emerging"
    RISING = "rising"
    PEAKING = "peaking"
    SATURATED = "saturated"
    DECLINING = "declining"


@dataclass(frozen=True, slots=True)
class CreatorContext:
    """A creator's situation *as of* a point in time (the draft's posting time).

    Built only from videos created strictly before ``as_of - history_gap`` so that the
    history never contains the video being predicted, nor videos whose view counts are
    as young as its own. ``None`` means "unknown", never "zero".
    """

    as_of: datetime
    handle: str | None = None
    followers: int | None = None
    verified: bool | None = None
    prior_video_count: int = 0
    median_views: float | None = None  # median views of the prior videos
    recent_median_views: float | None = None  # median views of the last few prior videos
    posts_per_week: float | None = None  # cadence over the prior videos' span


@dataclass(frozen=True, slots=True)
class SoundTrend:
    """One sound in a trend snapshot."""

    sound_id: str
    title: str
    author: str | None
    is_original: bool | None
    video_count: int
    median_views: float | None
    velocity: float  # growth of usage between windows, bounded in [-1, +inf)
    phase: TrendPhase | None


@dataclass(frozen=True, slots=True)
class HashtagTrend:
    """One hashtag in a trend snapshot (tag stored lowercase, without '#')."""

    tag: str
    video_count: int
    median_views: float | None
    velocity: float
    phase: TrendPhase | None
    is_generic: bool = False  # saturated catch-alls like fyp / viral


@dataclass(frozen=True, slots=True)
class TrendSnapshot:
    """Trending sounds and hashtags as of ``as_of``, computed from videos created before it."""

    as_of: datetime
    window_days: int
    total_videos: int
    sounds: tuple[SoundTrend, ...] = ()
    hashtags: tuple[HashtagTrend, ...] = ()
    version: str = "empty"


@dataclass(frozen=True, slots=True)
class MLPrediction:
    """Output of the trained model for one draft."""

    score: float  # 0-100, monotone in the predicted views percentile
    percentile: float  # predicted percentile of views in the training population, 0-1
    tier: int  # 1-5, argmax of tier_probabilities
    tier_probabilities: tuple[float, float, float, float, float]
    predicted_log_views: float
    model_version: str
    contributions: dict[str, float] = field(default_factory=dict)  # per feature group
