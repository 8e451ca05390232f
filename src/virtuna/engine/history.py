"""Point-in-time history: the one definition of "what was known before a video was posted".

Training (walking scraped files in time order) and serving (querying the database) both
reduce their data to these inputs and call these functions, so a creator's history and a
hashtag's popularity mean the same thing in both places. Serving calls the plain forms
(``creator_context``, ``trend_snapshot``); training keeps sorted running lists and calls the
``*_ordered`` / ``*_from_usage`` forms, which are the same definition minus the sorting
(``tests/service/test_history_parity.py`` checks both paths agree on real data).

Both only look at videos created at least ``HISTORY_GAP`` before the moment in question: a
creator's immediately preceding videos were as young at scrape time as the video itself,
so their views would smuggle in the same age effect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from virtuna.engine.features import is_generic_hashtag, sound_key
from virtuna.engine.types import CreatorContext, HashtagTrend, SoundTrend, TrendSnapshot

HISTORY_GAP = timedelta(days=7)
TREND_WINDOW = timedelta(days=30)
RECENT_VIDEOS = 5  # CreatorContext.recent_median_views summarises this many prior videos
SNAPSHOT_VERSION = "pit-gap7-win30"


@dataclass(frozen=True, slots=True)
class PriorVideo:
    created_at: datetime
    views: float


@dataclass(frozen=True, slots=True)
class Usage:
    """How many videos in the trend window used a hashtag or sound, and their median views."""

    count: int
    median_views: float

    @classmethod
    def of(cls, views: Sequence[float]) -> Usage:
        return cls(len(views), median(views))

    @classmethod
    def of_sorted(cls, views: Sequence[float]) -> Usage:
        """From views already in ascending order (no copy, no sort)."""
        return cls(len(views), median_sorted(views))


def median_sorted(values: Sequence[float]) -> float:
    n = len(values)
    mid = n // 2
    return float(values[mid]) if n % 2 else (values[mid - 1] + values[mid]) / 2.0


def median(values: Sequence[float]) -> float:
    return median_sorted(sorted(values))


def time_order(video: PriorVideo) -> tuple[datetime, float]:
    """Creation order; views break ties so the order never depends on how rows arrived."""
    return video.created_at, video.views


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
    ordered = sorted(prior, key=time_order)
    return creator_context_ordered(
        as_of=as_of,
        handle=handle,
        followers=followers,
        verified=verified,
        ordered=ordered,
        sorted_views=sorted(p.views for p in ordered),
    )


def creator_context_ordered(
    *,
    as_of: datetime,
    handle: str | None,
    followers: int | None,
    verified: bool | None,
    ordered: Sequence[PriorVideo],
    sorted_views: Sequence[float],
) -> CreatorContext:
    """The definition behind :func:`creator_context`, for callers that keep ``ordered``
    sorted by :func:`time_order` and ``sorted_views`` (the same views) ascending."""
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
        median_views=median_sorted(sorted_views) if count else None,
        recent_median_views=median(recent) if recent else None,
        posts_per_week=cadence,
    )


def sound_lookup(title: str | None, author: str | None) -> tuple[str, str | None] | None:
    """How a draft's sound is counted: its snapshot key, and the title to pool by.

    With an author, only that exact sound (``sound_key``) counts. Without one, every
    countable use of the title in the window counts, whoever uploaded it: a draft usually
    knows the track's name, not the uploader's. None: the sound is not countable.
    """
    key = sound_key(title, author)
    if key is None:
        return None
    pooled_title, key_author = key.split("|", 1)
    return key, (None if key_author else pooled_title)


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
    return trend_snapshot_from_usage(
        as_of=as_of,
        total_videos=total_videos,
        hashtags={tag: Usage.of(views) for tag, views in hashtag_views.items() if views},
        sounds={key: Usage.of(views) for key, views in sound_views.items() if views},
    )


def trend_snapshot_from_usage(
    *,
    as_of: datetime,
    total_videos: int,
    hashtags: Mapping[str, Usage],
    sounds: Mapping[str, Usage],
) -> TrendSnapshot:
    """The definition behind :func:`trend_snapshot`; entries come out sorted by key, so two
    snapshots of the same window are equal whatever order their rows arrived in."""
    return TrendSnapshot(
        as_of=as_of,
        window_days=TREND_WINDOW.days,
        total_videos=total_videos,
        sounds=tuple(_sound_trend(k, u) for k, u in sorted(sounds.items()) if u.count),
        hashtags=tuple(_hashtag_trend(t, u) for t, u in sorted(hashtags.items()) if u.count),
        version=SNAPSHOT_VERSION,
    )


def _hashtag_trend(tag: str, usage: Usage) -> HashtagTrend:
    return HashtagTrend(
        tag=tag,
        video_count=usage.count,
        median_views=usage.median_views,
        velocity=0.0,
        phase=None,
        is_generic=is_generic_hashtag(tag),
    )


def _sound_trend(key: str, usage: Usage) -> SoundTrend:
    title, author = key.split("|", 1)
    return SoundTrend(
        sound_id=key,  # the normalised identity; spelling variants share it
        title=title,
        author=author or None,
        is_original=None,
        video_count=usage.count,
        median_views=usage.median_views,
        velocity=0.0,
        phase=None,
    )
