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

import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.engine.features import GENERIC_HASHTAGS, sound_key
from virtuna.engine.history import median
from virtuna.engine.trends import is_generic_hashtag, is_original_sound
from virtuna.models import TrendingHashtag, TrendingSound
from virtuna.models.base import utcnow
from virtuna.trends import repository
from virtuna.trends.lifecycle import classify_phase, growth
from virtuna.trends.repository import Buckets

log = structlog.get_logger("virtuna.trends")

ALGORITHM = "series6-v1"
SERIES_BUCKETS = 6
MIN_VIDEOS = 2  # a key used once in the whole series is noise, not a trend
MAX_VELOCITY_FOR_RANK = 10.0


@dataclass
class _Series:
    counts: list[int]
    views: list[int]
    title: str | None = None
    author: str | None = None
    original: int | None = None

    @classmethod
    def empty(cls) -> _Series:
        return cls([0] * SERIES_BUCKETS, [0] * SERIES_BUCKETS)

    def add(self, bucket: int, videos: int, views: int) -> None:
        position = SERIES_BUCKETS - 1 - int(bucket)  # the query's bucket 0 is the newest
        self.counts[position] += int(videos)
        self.views[position] += int(views or 0)

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


def sound_identity(sound_id: str | None, title: str | None, author: str | None) -> str | None:
    """A sound's key: TikTok's music id when known, else the engine's ``title|author``."""
    if sound_id:
        return f"id:{sound_id}"
    return sound_key(title, author)


def is_generic(tag: str) -> bool:
    return tag in GENERIC_HASHTAGS or is_generic_hashtag(tag)


def original_flag(flag: int | None, title: str) -> bool | None:
    if flag is not None:
        return bool(flag)
    # Sources without the flag: TikTok's own-audio titles still say so.
    return True if is_original_sound(title) else None


def _top(series: dict[str, _Series], top_n: int) -> list[tuple[str, _Series]]:
    candidates = [(k, s) for k, s in series.items() if s.is_candidate()]
    candidates.sort(key=lambda item: (item[1].score(), item[0]), reverse=True)
    return candidates[:top_n]


def _entry(rank: int, window: int, series: _Series, views: Sequence[int]) -> dict[str, Any]:
    phase = classify_phase(series.counts)
    return {
        "id": uuid.uuid4(),
        "window_days": window,
        "rank": rank,
        "video_count": series.counts[-1],
        "total_views": series.views[-1],
        "median_views": median(views) if views else None,
        "velocity": round(growth(series.counts[-2], series.counts[-1]), 4),
        "views_velocity": round(growth(series.views[-2], series.views[-1]), 4),
        "phase": phase.value if phase else None,
        "series": list(series.counts),
    }


async def _hashtag_entries(
    session: AsyncSession, buckets: Buckets, window: int, top_n: int
) -> list[dict[str, Any]]:
    series: dict[str, _Series] = defaultdict(_Series.empty)
    for tag, bucket, videos, views in await repository.hashtag_series(session, buckets):
        series[tag].add(bucket, videos, views)
    top = _top(series, top_n)
    current: dict[str, list[int]] = defaultdict(list)
    for tag, views in await repository.current_hashtag_views(session, buckets, [k for k, _ in top]):
        current[tag].append(views)
    return [
        {**_entry(rank, window, s, current[tag]), "tag": tag, "is_generic": is_generic(tag)}
        for rank, (tag, s) in enumerate(top, start=1)
    ]


async def _sound_entries(
    session: AsyncSession, buckets: Buckets, window: int, top_n: int
) -> list[dict[str, Any]]:
    series: dict[str, _Series] = defaultdict(_Series.empty)
    for sound_id, title, author, bucket, videos, views, original in await repository.sound_series(
        session, buckets
    ):
        key = sound_identity(sound_id, title, author)
        if key is None:
            continue
        acc = series[key]
        acc.add(bucket, videos, views)
        acc.title = acc.title or title
        acc.author = acc.author or author
        if original is not None:
            acc.original = max(acc.original or 0, int(original))
    top = _top(series, top_n)
    wanted = {k for k, _ in top}
    current: dict[str, list[int]] = defaultdict(list)
    for sound_id, title, author, views in await repository.current_sound_views(session, buckets):
        key = sound_identity(sound_id, title, author)
        if key in wanted:
            current[key].append(views)
    return [
        {
            **_entry(rank, window, s, current[key]),
            "sound_key": key,
            "title": (s.title or key)[:500],
            "author": s.author,
            "is_original": original_flag(s.original, s.title or ""),
        }
        for rank, (key, s) in enumerate(top, start=1)
    ]


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
    sounds: list[dict[str, Any]] = []
    hashtags: list[dict[str, Any]] = []
    totals: dict[str, int] = {}
    for window in window_list:
        buckets = Buckets(as_of, timedelta(days=window), SERIES_BUCKETS)
        hashtags += await _hashtag_entries(session, buckets, window, top_n)
        sounds += await _sound_entries(session, buckets, window, top_n)
        totals[str(window)] = await repository.count_videos_between(
            session, as_of - timedelta(days=window), as_of
        )
    duration_ms = round((time.perf_counter() - started) * 1000)
    snapshot_id = await repository.insert_snapshot(
        session,
        {
            "id": uuid.uuid4(),
            "as_of": as_of,
            "algorithm": ALGORITHM,
            "params": params,
            "source_rows": source_rows,
            "windows": window_list,
            "totals": totals,
            "duration_ms": duration_ms,
            "computed_at": utcnow(),
        },
    )
    if snapshot_id is None:  # a concurrent calculation stored the same snapshot first
        return TrendCalculation(None, as_of, False, source_rows, window_list)
    await repository.insert_entries(
        session, TrendingSound, [{**s, "snapshot_id": snapshot_id} for s in sounds]
    )
    await repository.insert_entries(
        session, TrendingHashtag, [{**h, "snapshot_id": snapshot_id} for h in hashtags]
    )
    if retention is not None:
        await repository.delete_snapshots_before(session, utcnow() - retention, snapshot_id)
    result = TrendCalculation(
        snapshot_id, as_of, True, source_rows, window_list, len(sounds), len(hashtags), duration_ms
    )
    log.info("trends.calculated", **result.as_dict())
    return result
