"""Point-in-time history: the one definition of "what was known before a video was posted".

Training (walking scraped files in time order) and serving (querying the database) both
reduce their data to these inputs and call these functions, so a creator's history and a
hashtag's popularity mean the same thing in both places.

Both only look at videos created at least ``HISTORY_GAP`` before the moment in question: a
creator's immediately preceding videos were as young at scrape time as the video itself,
so their views would smuggle in the same age effect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from virtuna.engine.features import GENERIC_HASHTAGS
from virtuna.engine.types import CreatorContext, HashtagTrend, SoundTrend, TrendSnapshot

HISTORY_GAP = timedelta(days=7)
TREND_WINDOW = timedelta(days=30)
RECENT_VIDEOS = 5  # CreatorContext.recent_median_views summarises this many prior videos
SNAPSHOT_VERSION = "pit-gap7-win30"


@dataclass(frozen=True, slots=True)
class PriorVideo:
    created_at: datetime
    views: float


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    return float(ordered[mid]) if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def history_cutoff(as_of: datetime) -> datetime:
    """Only videos created strictly before this count as history for ``as_of``."""
    return as_of - HISTORY_GAP


def creator_context(
    *,
    as_of: datetime,
    handle: str | None,
    followers: int | None,
    verified: bool | None,
    prior: Sequence[PriorVideo],
) -> CreatorContext:
    """A creator's context from their videos created before ``history_cutoff(as_of)``."""
    ordered = sorted(prior, key=lambda p: p.created_at)
    count = len(ordered)
    cadence: float | None = None
    if count >= 2:
        span_days = (ordered[-1].created_at - ordered[0].created_at).total_seconds() / 86400.0
        # At least a day of span: same-day bursts would otherwise give absurd rates.
        cadence = (count - 1) / max(span_days, 1.0) * 7.0
    recent = [p.views for p in ordered[-RECENT_VIDEOS:]]
    return CreatorContext(
        as_of=as_of,
        handle=handle,
        followers=followers,
        verified=verified,
        prior_video_count=count,
        median_views=median([p.views for p in ordered]) if count else None,
        recent_median_views=median(recent) if recent else None,
        posts_per_week=cadence,
    )


def trend_window(as_of: datetime) -> tuple[datetime, datetime]:
    """Videos created in ``[start, end)`` make up the trend snapshot for ``as_of``."""
    end = history_cutoff(as_of)
    return end - TREND_WINDOW, end


def trend_snapshot(
    *,
    as_of: datetime,
    total_videos: int,
    hashtag_views: Mapping[str, Sequence[float]],
    sound_views: Mapping[str, Sequence[float]],
) -> TrendSnapshot:
    """Usage count and median views per hashtag and per sound key inside the window.

    Sound keys are ``"title|author"`` (see ``virtuna.engine.features.sound_key``).
    Velocity and phase need several snapshots over time; the trends job fills them in.
    """
    hashtags = tuple(
        HashtagTrend(
            tag=tag,
            video_count=len(views),
            median_views=median(views),
            velocity=0.0,
            phase=None,
            is_generic=tag in GENERIC_HASHTAGS,
        )
        for tag, views in hashtag_views.items()
        if views
    )
    sounds = tuple(
        SoundTrend(
            sound_id=key,
            title=key.split("|", 1)[0],
            author=key.split("|", 1)[1] or None,
            is_original=None,
            video_count=len(views),
            median_views=median(views),
            velocity=0.0,
            phase=None,
        )
        for key, views in sound_views.items()
        if views
    )
    return TrendSnapshot(
        as_of=as_of,
        window_days=TREND_WINDOW.days,
        total_videos=total_videos,
        sounds=sounds,
        hashtags=hashtags,
        version=SNAPSHOT_VERSION,
    )
