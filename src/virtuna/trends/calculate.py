"""`calculate-trends`: per sound and per hashtag, usage and views over rolling windows.

For each configured window length W the data is cut into ``SERIES_BUCKETS`` consecutive
W-long buckets ending at ``as_of`` (by the videos' *create* time; views as of ``as_of`` by
*scrape* time — never by when we inserted the rows). A key's entry holds the current bucket's
video count, total and median views, its usage velocity (growth of the video count from the
previous bucket), its views velocity (same for summed views), the whole count series, and
a phase read from the series' shape (``virtuna.trends.lifecycle``).

``as_of`` defaults to the latest scrape time, so a database of old scrapes still has trends
as of when it was last looked at. A snapshot is immutable and keyed by (as_of, algorithm,
number of stats rows seen): recomputing over unchanged data writes nothing.
"""

from __future__ import annotations

import heapq
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.engine.features import GENERIC_HASHTAGS
from virtuna.engine.trends import is_generic_hashtag, is_original_sound
from virtuna.models import TrendingHashtag, TrendingSound
from virtuna.models.base import utcnow
from virtuna.trends import repository, series
from virtuna.trends.lifecycle import classify_phase, growth
from virtuna.trends.medians import current_medians
from virtuna.trends.series import MAX_VELOCITY_FOR_RANK, MIN_VIDEOS, KeySeries, Plan

log = structlog.get_logger("virtuna.trends")

ALGORITHM = "series6-v1"
SERIES_BUCKETS = 6
RANK_MARGIN = 50  # the database pre-ranks; Python ranks exactly among these extra keys


@dataclass
class _Series:
    """One key's video counts and views per bucket of one window, oldest first."""

    counts: list[int]
    views: list[int]

    def is_candidate(self) -> bool:
        return sum(self.counts) >= MIN_VIDEOS and (self.counts[-1] > 0 or self.counts[-2] > 0)

    def score(self) -> tuple[float, int]:
        velocity = min(max(growth(self.counts[-2], self.counts[-1]), 0.0), MAX_VELOCITY_FOR_RANK)
        return self.counts[-1] * (1.0 + velocity), self.views[-1]


@dataclass
class TrendCalculation:
    snapshot_id: uuid.UUID | None
    as_of: datetime | None
    created: bool
    source_rows: int = 0
    windows: list[int] = field(default_factory=list)
    sounds: int = 0
    hashtags: int = 0
    duration_ms: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "snapshot_id": str(self.snapshot_id) if self.snapshot_id else None,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "created": self.created,
            "source_rows": self.source_rows,
            "windows": self.windows,
            "sounds": self.sounds,
            "hashtags": self.hashtags,
            "duration_ms": self.duration_ms,
        }


def is_generic(tag: str) -> bool:
    return tag in GENERIC_HASHTAGS or is_generic_hashtag(tag)


def original_flag(flag: int | None, title: str) -> bool | None:
    if flag is not None:
        return bool(flag)
    # Sources without the flag: TikTok's own-audio titles still say so.
    return True if is_original_sound(title) else None


def _top(rows: list[KeySeries], window: int, top_n: int) -> list[tuple[KeySeries, _Series]]:
    """The ``top_n`` candidates by score, then current views, then key (all descending)."""
    candidates = (
        (row, s)
        for row in rows
        if (s := _Series(row.counts[window], row.views[window])).is_candidate()
    )
    return heapq.nlargest(top_n, candidates, key=lambda item: (item[1].score(), item[0].key))


def _entry(rank: int, window: int, series: _Series, median_views: float | None) -> dict[str, Any]:
    phase = classify_phase(series.counts)
    return {
        "id": uuid.uuid4(),
        "window_days": window,
        "rank": rank,
        "video_count": series.counts[-1],
        "total_views": series.views[-1],
        "median_views": median_views,
        "velocity": round(growth(series.counts[-2], series.counts[-1]), 4),
        "views_velocity": round(growth(series.views[-2], series.views[-1]), 4),
        "phase": phase.value if phase else None,
        "series": list(series.counts),
    }


def _identity(row: KeySeries, *, sound: bool) -> dict[str, Any]:
    if not sound:
        return {"tag": row.key, "is_generic": is_generic(row.key)}
    return {
        "sound_key": row.key,
        "title": (row.title or row.key)[:500],
        "author": row.author,
        "is_original": original_flag(row.original, row.title or ""),
    }


async def _entries(
    session: AsyncSession, plan: Plan, top_n: int, *, sound: bool
) -> list[dict[str, Any]]:
    """The top entries of every window for one kind (sounds or hashtags)."""
    rows = await series.key_series(session, plan, sounds=sound, keep=top_n + RANK_MARGIN)
    tops = {window: _top(rows, window, top_n) for window in plan.windows}
    keys = {window: [row.key for row, _ in top] for window, top in tops.items()}
    medians = await current_medians(session, plan, keys, sounds=sound)
    return [
        {**_entry(rank, w, s, medians[w].get(row.key)), **_identity(row, sound=sound)}
        for w, top in tops.items()
        for rank, (row, s) in enumerate(top, start=1)
    ]


async def _compute(
    session: AsyncSession, as_of: datetime, windows: list[int], top_n: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
    """(hashtag entries, sound entries, known videos per window)."""
    dialect = session.get_bind().dialect.name
    settled = await series.is_settled(session, as_of)
    plan = Plan(as_of, tuple(windows), SERIES_BUCKETS, dialect, settled=settled)
    await series.tune(session)
    hashtags = await _entries(session, plan, top_n, sound=False)
    sounds = await _entries(session, plan, top_n, sound=True)
    totals = {str(w): await series.count_known(session, plan, w) for w in plan.windows}
    return hashtags, sounds, totals


async def calculate_trends(
    session: AsyncSession,
    *,
    windows: Iterable[int],
    top_n: int,
    as_of: datetime | None = None,
    retention: timedelta | None = None,
) -> TrendCalculation:
    """Compute and store one snapshot (the caller owns the transaction); idempotent."""
    started = time.perf_counter()
    window_list = sorted(set(windows))
    as_of = as_of or await repository.latest_scrape(session)
    if as_of is None:
        return TrendCalculation(None, None, created=False, windows=window_list)
    source_rows = await repository.stats_rows_until(session, as_of)
    params = f"windows={','.join(map(str, window_list))};top={top_n}"
    existing = await repository.find_snapshot(
        session, as_of=as_of, algorithm=ALGORITHM, params=params, source_rows=source_rows
    )
    if existing is not None:
        return TrendCalculation(existing.id, as_of, False, source_rows, window_list)
    hashtags, sounds, totals = await _compute(session, as_of, window_list, top_n)
    duration_ms = round((time.perf_counter() - started) * 1000)
    snapshot_id = await _store(
        session,
        TrendCalculation(None, as_of, True, source_rows, window_list, duration_ms=duration_ms),
        params=params,
        totals=totals,
        entries={TrendingSound: sounds, TrendingHashtag: hashtags},
    )
    if snapshot_id is None:  # a concurrent calculation stored the same snapshot first
        return TrendCalculation(None, as_of, False, source_rows, window_list)
    if retention is not None:
        await repository.delete_snapshots_before(session, utcnow() - retention, snapshot_id)
    result = TrendCalculation(
        snapshot_id, as_of, True, source_rows, window_list, len(sounds), len(hashtags), duration_ms
    )
    log.info("trends.calculated", **result.as_dict())
    return result


async def _store(
    session: AsyncSession,
    calc: TrendCalculation,
    *,
    params: str,
    totals: dict[str, int],
    entries: dict[Any, list[dict[str, Any]]],
) -> uuid.UUID | None:
    """Insert the snapshot and its entries; None if the same snapshot already exists."""
    assert calc.as_of is not None
    snapshot_id = await repository.insert_snapshot(
        session,
        {
            "id": uuid.uuid4(),
            "as_of": calc.as_of,
            "algorithm": ALGORITHM,
            "params": params,
            "source_rows": calc.source_rows,
            "windows": calc.windows,
            "totals": totals,
            "duration_ms": calc.duration_ms,
            "computed_at": utcnow(),
        },
    )
    if snapshot_id is not None:
        for model, rows in entries.items():
            await repository.insert_entries(
                session, model, [{**row, "snapshot_id": snapshot_id} for row in rows]
            )
    return snapshot_id
