"""Point-in-time creator history and trend snapshots for every training video.

The definitions (gap, window, medians, cadence, what a snapshot holds) live in
``virtuna.engine.history`` and are the ones serving uses on the database
(``virtuna.videos.context``); this module only feeds them efficiently. The incremental
builders walk the videos in time order once, keeping each creator's prior views and each
hashtag's / sound's in-window views sorted, and hand those sorted lists to the engine's
``*_ordered`` / ``*_from_usage`` forms (O(n log n) overall). The ``naive_*`` functions call
the engine's plain forms on a from-scratch selection, exactly as the database path does,
and exist to prove the fast path right.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from typing import NamedTuple

from virtuna.engine.features import sound_key
from virtuna.engine.history import (
    HISTORY_GAP,
    PriorVideo,
    Usage,
    creator_context,
    creator_context_ordered,
    history_cutoff,
    sound_lookup,
    time_order,
    trend_snapshot,
    trend_snapshot_from_usage,
    trend_window,
)
from virtuna.engine.types import CreatorContext, TrendSnapshot
from virtuna.training.records import VideoRecord

__all__ = [
    "HISTORY_GAP",
    "Lookup",
    "creator_contexts",
    "naive_creator_context",
    "naive_trend_snapshot",
    "trend_snapshots",
]


class Lookup(NamedTuple):
    """What a draft's trend snapshot is looked up by: its hashtags and sound."""

    hashtags: tuple[str, ...]
    sound_title: str | None
    sound_author: str | None


def _own_lookup(rec: VideoRecord) -> Lookup:
    return Lookup(rec.draft.hashtags, rec.draft.sound_title, rec.draft.sound_author)


def _prior(rec: VideoRecord) -> PriorVideo:
    return PriorVideo(created_at=rec.draft.created_at, views=float(rec.outcome.views))


def known_verified(records: Sequence[VideoRecord]) -> dict[str, bool]:
    """Each creator's verified flag as the database keeps it: the last one given, in
    ingest (= record) order; a row that lacks the flag gets its creator's."""
    known: dict[str, bool] = {}
    for rec in records:
        if rec.draft.author and rec.draft.verified is not None:
            known[rec.draft.author] = rec.draft.verified
    return known


def _context(rec: VideoRecord, ordered: Sequence[PriorVideo], views: Sequence[float],
             verified: bool | None) -> CreatorContext:  # fmt: skip
    return creator_context_ordered(
        as_of=rec.draft.created_at,
        handle=rec.draft.author or None,
        followers=rec.draft.followers,
        verified=verified,
        ordered=ordered,
        sorted_views=views,
    )


def creator_contexts(records: Sequence[VideoRecord]) -> list[CreatorContext]:
    """One CreatorContext per record (same order), each as of that record's create time."""
    by_author: dict[str, list[int]] = defaultdict(list)
    for i, rec in enumerate(records):
        by_author[rec.draft.author].append(i)
    out: list[CreatorContext | None] = [None] * len(records)
    verified = known_verified(records)
    for author, idx in by_author.items():
        pairs = sorted(((_prior(records[i]), i) for i in idx), key=lambda p: time_order(p[0]))
        prior = [p for p, _ in pairs]
        idx = [i for _, i in pairs]
        views: list[float] = []
        j = 0
        for pos, i in enumerate(idx):
            cutoff = history_cutoff(prior[pos].created_at)
            # An empty handle is no creator: nobody's history may be pooled under it.
            while author and j < pos and prior[j].created_at < cutoff:
                bisect.insort(views, prior[j].views)
                j += 1
            out[i] = _context(records[i], prior[:j], views, verified.get(author))
    return [c for c in out if c is not None]


def naive_creator_context(records: Sequence[VideoRecord], index: int) -> CreatorContext:
    """Reference implementation of one row of :func:`creator_contexts`."""
    rec = records[index]
    cutoff = history_cutoff(rec.draft.created_at)
    author = rec.draft.author
    prior = [_prior(r) for r in records
             if author and r.draft.author == author and r.draft.created_at < cutoff]  # fmt: skip
    return creator_context(
        as_of=rec.draft.created_at,
        handle=author or None,
        followers=rec.draft.followers,
        verified=known_verified(records).get(author) if author else None,
        prior=prior,
    )


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

    def usage(self, keys: Sequence[str]) -> dict[str, Usage]:
        return {k: Usage.of_sorted(self.views[k]) for k in keys if k in self.views}


def _sound(rec: VideoRecord) -> str | None:
    return sound_key(rec.draft.sound_title, rec.draft.sound_author)


class _Windows:
    """The sliding window's views by hashtag, by sound key and by sound title."""

    def __init__(self) -> None:
        self.tags, self.sounds, self.titles = _Window(), _Window(), _Window()

    def apply(self, rec: VideoRecord, add: bool) -> None:
        for t in rec.draft.hashtags:
            (self.tags.add if add else self.tags.remove)(t, rec)
        skey = _sound(rec)
        if skey is not None:
            for window, key in ((self.sounds, skey), (self.titles, skey.split("|", 1)[0])):
                (window.add if add else window.remove)(key, rec)

    def snapshot(self, rec: VideoRecord, total: int, wanted: Lookup) -> TrendSnapshot:
        lookup = sound_lookup(wanted.sound_title, wanted.sound_author)
        sounds: dict[str, Usage] = {}
        if lookup is not None:
            key, pooled_title = lookup
            window, by = (self.sounds, key) if pooled_title is None else (self.titles, pooled_title)
            if by in window.views:
                sounds[key] = Usage.of_sorted(window.views[by])
        return trend_snapshot_from_usage(
            as_of=rec.draft.created_at,
            total_videos=total,
            hashtags=self.tags.usage(wanted.hashtags),
            sounds=sounds,
        )


def trend_snapshots(records: Sequence[VideoRecord], lookups: Sequence[Lookup] | None = None
                    ) -> list[TrendSnapshot]:  # fmt: skip
    """Per record, the usage of its hashtags and sound in the window before it (the rest of
    a snapshot cannot affect its features). ``lookups`` (one per record) names the tags and
    sound to look up; by default the record's own, serving looks up the submitted draft's."""
    wanted = list(lookups) if lookups is not None else [_own_lookup(r) for r in records]
    order = sorted(range(len(records)), key=lambda i: records[i].draft.created_at)
    windows = _Windows()
    out: list[TrendSnapshot | None] = [None] * len(records)
    lo = hi = 0  # the window holds order[lo:hi]
    for i in order:
        rec = records[i]
        start, end = trend_window(rec.draft.created_at)
        while hi < len(order) and records[order[hi]].draft.created_at < end:
            windows.apply(records[order[hi]], add=True)
            hi += 1
        while lo < hi and records[order[lo]].draft.created_at < start:
            windows.apply(records[order[lo]], add=False)
            lo += 1
        out[i] = windows.snapshot(rec, hi - lo, wanted[i])
    return [s for s in out if s is not None]


def naive_trend_snapshot(records: Sequence[VideoRecord], index: int,
                         wanted: Lookup | None = None) -> TrendSnapshot:  # fmt: skip
    """Reference implementation of one row of :func:`trend_snapshots`."""
    rec = records[index]
    own = wanted or _own_lookup(rec)
    start, end = trend_window(rec.draft.created_at)
    window = [r for r in records if start <= r.draft.created_at < end]
    lookup = sound_lookup(own.sound_title, own.sound_author)
    sound_views: dict[str, list[float]] = {}
    if lookup is not None:
        key, pooled_title = lookup
        sound_views[key] = [
            float(r.outcome.views)
            for r in window
            if (s := _sound(r)) is not None
            and (s == key if pooled_title is None else s.split("|", 1)[0] == pooled_title)
        ]
    return trend_snapshot(
        as_of=rec.draft.created_at,
        total_videos=len(window),
        hashtag_views={
            t: [float(r.outcome.views) for r in window if t in r.draft.hashtags]
            for t in own.hashtags
        },
        sound_views=sound_views,
    )
