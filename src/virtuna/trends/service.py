"""Read computed trends: API listings, a sound's history, stats, and the engine's view.

Snapshots are immutable, so offset pagination over one snapshot is stable, and the engine's
entries of a snapshot can be cached per process by snapshot id without ever going stale.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.engine.features import sound_key
from virtuna.engine.types import HashtagTrend, SoundTrend, TrendPhase, TrendSnapshot
from virtuna.errors import NotFound, ValidationFailed
from virtuna.models import TrendingHashtag, TrendingSound, TrendSnapshotRun
from virtuna.trends import repository
from virtuna.trends.calculate import ALGORITHM, TrendCalculation, calculate_trends
from virtuna.trends.schemas import (
    HashtagEntry,
    HashtagPage,
    SnapshotInfo,
    SoundDetail,
    SoundEntry,
    SoundHistoryPoint,
    SoundPage,
    TrendStats,
)

__all__ = ["ALGORITHM", "TrendCalculation", "calculate_trends"]

ENGINE_WINDOW_DAYS = 7  # the engine matches against this window (or the nearest computed)
ENGINE_MAX_SOUNDS = 200  # the engine's TrendIndex looks at 200 sounds at most
ENGINE_MAX_HASHTAGS = 300


def _info(snapshot: TrendSnapshotRun) -> SnapshotInfo:
    return SnapshotInfo(
        id=snapshot.id,
        as_of=snapshot.as_of,
        computed_at=snapshot.computed_at,
        algorithm=snapshot.algorithm,
        windows=list(snapshot.windows),
        totals={int(k): int(v) for k, v in snapshot.totals.items()},
    )


def _window(snapshot: TrendSnapshotRun, requested: int | None) -> int:
    windows = list(snapshot.windows)
    if requested is None:
        return min(windows, key=lambda w: abs(w - ENGINE_WINDOW_DAYS))
    if requested not in windows:
        raise ValidationFailed(
            f"window must be one of {windows}",
            details=[{"field": "window", "message": f"computed windows: {windows}"}],
        )
    return requested


async def _latest(session: AsyncSession) -> TrendSnapshotRun:
    snapshot = await repository.latest_snapshot(session)
    if snapshot is None:
        raise NotFound("no trends computed yet (run the calculate-trends job)")
    return snapshot


Page = TypeVar("Page", SoundPage, HashtagPage)


async def _listing(
    session: AsyncSession,
    page: type[Page],
    *,
    window: int | None,
    phase: TrendPhase | None,
    limit: int,
    offset: int,
    **filters: Any,
) -> Page:
    """One page of the latest snapshot's sounds or hashtags (``page`` says which)."""
    snapshot = await _latest(session)
    days = _window(snapshot, window)
    model, entry = (
        (TrendingSound, SoundEntry) if page is SoundPage else (TrendingHashtag, HashtagEntry)
    )
    rows, total = await repository.list_entries(
        session,
        model,
        snapshot_id=snapshot.id,
        window_days=days,
        phase=phase.value if phase else None,
        offset=offset,
        limit=limit,
        **filters,
    )
    return page(
        snapshot=_info(snapshot),
        window_days=days,
        total=total,
        items=[entry.model_validate(r) for r in rows],
        next_offset=offset + limit if offset + limit < total else None,
    )


async def list_sounds(
    session: AsyncSession,
    *,
    window: int | None,
    phase: TrendPhase | None,
    search: str | None,
    original: bool | None,
    limit: int,
    offset: int,
) -> SoundPage:
    return await _listing(
        session,
        SoundPage,
        window=window,
        phase=phase,
        limit=limit,
        offset=offset,
        search=search,
        original=original,
    )


async def list_hashtags(
    session: AsyncSession,
    *,
    window: int | None,
    phase: TrendPhase | None,
    search: str | None,
    include_generic: bool,
    limit: int,
    offset: int,
) -> HashtagPage:
    return await _listing(
        session,
        HashtagPage,
        window=window,
        phase=phase,
        limit=limit,
        offset=offset,
        search=search.lower().lstrip("#") if search else None,
        include_generic=include_generic,
    )


async def sound_detail(
    session: AsyncSession, *, key: str, window: int | None, limit: int
) -> SoundDetail:
    snapshot = await _latest(session)
    days = _window(snapshot, window)
    history = await repository.sound_history(session, sound_key=key, window_days=days, limit=limit)
    if not history:
        raise NotFound("sound not found in any trend snapshot")
    _, latest = history[0]
    return SoundDetail(
        **SoundEntry.model_validate(latest).model_dump(),
        history=[
            SoundHistoryPoint(
                as_of=s.as_of,
                video_count=e.video_count,
                total_views=e.total_views,
                median_views=e.median_views,
                velocity=e.velocity,
                phase=e.phase,
            )
            for s, e in reversed(history)
        ],
    )


async def stats(session: AsyncSession) -> TrendStats:
    snapshot = await repository.latest_snapshot(session)
    base: dict[str, Any] = {
        "snapshots": await repository.snapshot_count(session),
        "latest_scrape": await repository.latest_scrape(session),
    }
    if snapshot is None:
        return TrendStats(snapshot=None, sound_phases={}, hashtag_phases={}, **base)
    days = _window(snapshot, None)
    return TrendStats(
        snapshot=_info(snapshot),
        window_days=days,
        sound_phases=await repository.phase_counts(
            session, TrendingSound, snapshot_id=snapshot.id, window_days=days
        ),
        hashtag_phases=await repository.phase_counts(
            session, TrendingHashtag, snapshot_id=snapshot.id, window_days=days
        ),
        **base,
    )


# --- the engine's view --------------------------------------------------------------------

EngineEntries = tuple[tuple[SoundTrend, ...], tuple[HashtagTrend, ...]]
_ENGINE_CACHE: OrderedDict[uuid.UUID, EngineEntries] = OrderedDict()


def _phase(value: str | None) -> TrendPhase | None:
    return TrendPhase(value) if value else None


async def _engine_entries(session: AsyncSession, snapshot: TrendSnapshotRun) -> EngineEntries:
    cached = _ENGINE_CACHE.get(snapshot.id)
    if cached is not None:
        return cached
    days = _window(snapshot, None)
    sounds, _ = await repository.list_entries(
        session, TrendingSound, snapshot_id=snapshot.id, window_days=days, limit=ENGINE_MAX_SOUNDS
    )
    tags, _ = await repository.list_entries(
        session,
        TrendingHashtag,
        snapshot_id=snapshot.id,
        window_days=days,
        limit=ENGINE_MAX_HASHTAGS,
    )
    entries = _as_engine(sounds, tags)
    _ENGINE_CACHE[snapshot.id] = entries
    while len(_ENGINE_CACHE) > 4:
        _ENGINE_CACHE.popitem(last=False)
    return entries


def _as_engine(sounds: Sequence[TrendingSound], tags: Sequence[TrendingHashtag]) -> EngineEntries:
    return (
        tuple(
            SoundTrend(
                sound_id=s.sound_key,
                title=s.title,
                author=s.author,
                is_original=s.is_original,
                video_count=s.video_count,
                median_views=s.median_views,
                velocity=s.velocity,
                phase=_phase(s.phase),
            )
            for s in sounds
        ),
        tuple(
            HashtagTrend(
                tag=h.tag,
                video_count=h.video_count,
                median_views=h.median_views,
                velocity=h.velocity,
                phase=_phase(h.phase),
                is_generic=h.is_generic,
            )
            for h in tags
        ),
    )


def _same_sound(trend: SoundTrend, key: str, title_only: bool) -> bool:
    if title_only:
        return trend.title.strip().lower() == key.split("|", 1)[0]
    return trend.sound_id == key or sound_key(trend.title, trend.author) == key


def merge_for_engine(
    base: TrendSnapshot,
    sounds: Sequence[SoundTrend],
    hashtags: Sequence[HashtagTrend],
    *,
    draft_hashtags: Sequence[str],
    draft_sound_key: str | None,
    title_only: bool,
    version: str,
) -> TrendSnapshot:
    """The draft's own point-in-time entries, enriched with the computed velocity and phase,
    followed by the computed top entries that are not the draft's own.

    The ML features read the draft's entries (count, median views, generic flag) and look
    tags and the sound up by key, so computed entries never replace or add to them: the
    features stay exactly as training computed them, while matching sees velocity and phase.
    """
    computed_tags = {h.tag: h for h in hashtags}
    own_tags = set(draft_hashtags)
    merged_tags = tuple(
        dataclasses.replace(h, velocity=c.velocity, phase=c.phase)
        if (c := computed_tags.get(h.tag))
        else h
        for h in base.hashtags
    ) + tuple(h for h in hashtags if h.tag not in own_tags)
    own_sound = [
        s for s in sounds if draft_sound_key and _same_sound(s, draft_sound_key, title_only)
    ]
    best = max(own_sound, key=lambda s: s.video_count, default=None)
    merged_sounds = tuple(
        dataclasses.replace(
            s, velocity=best.velocity, phase=best.phase, is_original=best.is_original
        )
        if best is not None and s.sound_id == draft_sound_key
        else s
        for s in base.sounds
    ) + tuple(s for s in sounds if s not in own_sound)
    return dataclasses.replace(
        base, sounds=merged_sounds, hashtags=merged_tags, version=f"{base.version}+{version}"
    )


async def with_latest_trends(
    session: AsyncSession,
    base: TrendSnapshot,
    *,
    hashtags: Sequence[str],
    sound_title: str | None,
    sound_author: str | None,
) -> TrendSnapshot:
    """``base`` (the draft's point-in-time entries) plus the latest computed snapshot whose
    ``as_of`` is not after the draft's; ``base`` unchanged when none exists."""
    snapshot = await repository.latest_snapshot(session, as_of=base.as_of)
    if snapshot is None:
        return base
    sounds, tags = await _engine_entries(session, snapshot)
    return merge_for_engine(
        base,
        sounds,
        tags,
        draft_hashtags=hashtags,
        draft_sound_key=sound_key(sound_title, sound_author),
        title_only=sound_author is None,
        version=f"{snapshot.algorithm}@{_stamp(snapshot.as_of)}",
    )


def _stamp(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%SZ")
