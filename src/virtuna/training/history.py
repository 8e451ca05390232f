"""Point-in-time creator history and trend snapshots for every training video.

Both are built only from videos created at least ``HISTORY_GAP`` before the video in
question: a creator's immediately preceding videos were as young at scrape time as the
video itself, so their views would smuggle in the same age effect (data README, "leave a
gap"). At serving time the same gap keeps the database's freshest, still-growing counts
out of the features, so training and serving see the same kind of history.

The incremental builders walk the videos in time order once (O(n log n)); the ``naive_*``
functions recompute one row from scratch and exist to prove the fast path right.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from virtuna.engine.features import GENERIC_HASHTAGS, sound_key
from virtuna.engine.types import CreatorContext, HashtagTrend, SoundTrend, TrendSnapshot
from virtuna.training.records import VideoRecord

HISTORY_GAP = timedelta(days=7)
TREND_WINDOW = timedelta(days=30)
RECENT_VIDEOS = 5  # CreatorContext.recent_median_views summarises this many prior videos
SNAPSHOT_VERSION = "pit-gap7-win30"


def _median_sorted(values: Sequence[float]) -> float:
    n = len(values)
    mid = n // 2
    return float(values[mid]) if n % 2 else (values[mid - 1] + values[mid]) / 2.0


def _median(values: Sequence[float]) -> float:
    return _median_sorted(sorted(values))


def _context(rec: VideoRecord, prior: Sequence[VideoRecord], views_sorted: Sequence[float]
             ) -> CreatorContext:  # fmt: skip
    """CreatorContext from the creator's prior videos (time-ordered) and their sorted views."""
    count = len(prior)
    cadence: float | None = None
    if count >= 2:
        span_days = (prior[-1].draft.created_at - prior[0].draft.created_at).total_seconds()
        # At least a day of span: same-day bursts would otherwise give absurd rates.
        cadence = (count - 1) / max(span_days / 86400.0, 1.0) * 7.0
    recent = [float(p.outcome.views) for p in prior[-RECENT_VIDEOS:]]
    return CreatorContext(
        as_of=rec.draft.created_at,
        handle=rec.draft.author or None,
        followers=rec.draft.followers,
        verified=rec.draft.verified,
        prior_video_count=count,
        median_views=_median_sorted(views_sorted) if count else None,
        recent_median_views=_median(recent) if recent else None,
        posts_per_week=cadence,
    )


def creator_contexts(records: Sequence[VideoRecord]) -> list[CreatorContext]:
    """One CreatorContext per record (same order), each as of that record's create time."""
    by_author: dict[str, list[int]] = defaultdict(list)
    for i, rec in enumerate(records):
        by_author[rec.draft.author].append(i)
    out: list[CreatorContext | None] = [None] * len(records)
    for author, idx in by_author.items():
        idx.sort(key=lambda i: records[i].draft.created_at)
        ordered = [records[i] for i in idx]
        views: list[float] = []
        j = 0
        for pos, rec in enumerate(ordered):
            cutoff = rec.draft.created_at - HISTORY_GAP
            # An empty handle is no creator: nobody's history may be pooled under it.
            while author and j < pos and ordered[j].draft.created_at < cutoff:
                bisect.insort(views, float(ordered[j].outcome.views))
                j += 1
            out[idx[pos]] = _context(rec, ordered[:j], views)
    return [c for c in out if c is not None]


def naive_creator_context(records: Sequence[VideoRecord], index: int) -> CreatorContext:
    """Reference implementation of one row of :func:`creator_contexts`."""
    rec = records[index]
    cutoff = rec.draft.created_at - HISTORY_GAP
    prior = sorted(
        (r for r in records if rec.draft.author and r.draft.author == rec.draft.author
         and r.draft.created_at < cutoff),
        key=lambda r: r.draft.created_at,
    )  # fmt: skip
    return _context(rec, prior, sorted(float(r.outcome.views) for r in prior))


class _Window:
    """Views per key of the videos currently inside the sliding window, kept sorted."""

    def __init__(self) -> None:
        self.views: dict[str, list[float]] = defaultdict(list)

    def add(self, key: str, rec: VideoRecord) -> None:
        bisect.insort(self.views[key], float(rec.outcome.views))

    def remove(self, key: str, rec: VideoRecord) -> None:
        lst = self.views[key]
        del lst[bisect.bisect_left(lst, float(rec.outcome.views))]
        if not lst:
            del self.views[key]


def _keys(rec: VideoRecord) -> tuple[tuple[str, ...], str | None]:
    return rec.draft.hashtags, sound_key(rec.draft.sound_title, rec.draft.sound_author)


def _snapshot(rec: VideoRecord, total: int, tags: _Window, sounds: _Window) -> TrendSnapshot:
    """The draft's own hashtags and sound as a snapshot (the rest cannot affect features)."""
    hashtags = tuple(
        HashtagTrend(
            tag=t,
            video_count=len(tags.views[t]),
            median_views=_median_sorted(tags.views[t]),
            velocity=0.0,
            phase=None,
            is_generic=t in GENERIC_HASHTAGS,
        )
        for t in rec.draft.hashtags
        if t in tags.views
    )
    key = _keys(rec)[1]
    found = () if key is None or key not in sounds.views else (key,)
    sound_trends = tuple(
        SoundTrend(
            sound_id=k,
            # The key is the normalised identity; spelling variants share it.
            title=k.split("|", 1)[0],
            author=k.split("|", 1)[1] or None,
            is_original=None,
            video_count=len(sounds.views[k]),
            median_views=_median_sorted(sounds.views[k]),
            velocity=0.0,
            phase=None,
        )
        for k in found
    )
    return TrendSnapshot(
        as_of=rec.draft.created_at,
        window_days=TREND_WINDOW.days,
        total_videos=total,
        sounds=sound_trends,
        hashtags=hashtags,
        version=SNAPSHOT_VERSION,
    )


def _apply(rec: VideoRecord, tags: _Window, sounds: _Window, add: bool) -> None:
    hashtags, skey = _keys(rec)
    for t in hashtags:
        (tags.add if add else tags.remove)(t, rec)
    if skey is not None:
        (sounds.add if add else sounds.remove)(skey, rec)


def trend_snapshots(records: Sequence[VideoRecord]) -> list[TrendSnapshot]:
    """Per record, hashtag/sound usage and median views in [t - gap - window, t - gap)."""
    order = sorted(range(len(records)), key=lambda i: records[i].draft.created_at)
    tags, sounds = _Window(), _Window()
    out: list[TrendSnapshot | None] = [None] * len(records)
    lo = hi = 0  # the window holds order[lo:hi]
    for i in order:
        end = records[i].draft.created_at - HISTORY_GAP
        start = end - TREND_WINDOW
        while hi < len(order) and records[order[hi]].draft.created_at < end:
            _apply(records[order[hi]], tags, sounds, add=True)
            hi += 1
        while lo < hi and records[order[lo]].draft.created_at < start:
            _apply(records[order[lo]], tags, sounds, add=False)
            lo += 1
        out[i] = _snapshot(records[i], hi - lo, tags, sounds)
    return [s for s in out if s is not None]


def naive_trend_snapshot(records: Sequence[VideoRecord], index: int) -> TrendSnapshot:
    """Reference implementation of one row of :func:`trend_snapshots`."""
    rec = records[index]
    end: datetime = rec.draft.created_at - HISTORY_GAP
    window = [r for r in records if end - TREND_WINDOW <= r.draft.created_at < end]
    tags, sounds = _Window(), _Window()
    for r in sorted(window, key=lambda r: r.draft.created_at):
        _apply(r, tags, sounds, add=True)
    return _snapshot(rec, len(window), tags, sounds)
