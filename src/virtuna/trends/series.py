"""One grouped query per kind gives every key's series for every window at once.

The newest ``count`` buckets of every window are cut at boundaries ``as_of - k·W``; together
those boundaries split the time line into at most ``windows × count`` segments, and every
bucket of every window is a union of whole segments. The query groups rows by (key,
segment) — one pass over the rows of the longest span — and folds the segments into
``window × bucket`` columns, so one row per key crosses the wire whatever the row count.

Point in time: a video counts at ``as_of`` if it was created before it and first scraped by
then, with the views of its latest snapshot scraped by ``as_of``. Those come from columns
ingest keeps on the video (first/latest scrape, latest views); only the videos re-scraped
after ``as_of`` look their views up in the snapshots.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Float, Select, and_, case, cast, func, literal, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from virtuna.engine.history import median
from virtuna.models import Video, VideoHashtag, VideoStats

MIN_VIDEOS = 2  # a key used once in the whole series is noise, not a trend
MAX_VELOCITY_FOR_RANK = 10.0


@dataclass(frozen=True, slots=True)
class Plan:
    as_of: datetime
    windows: tuple[int, ...]  # days
    count: int  # buckets per window
    dialect: str = "sqlite"

    @property
    def boundaries(self) -> list[datetime]:
        """Segment starts, newest first; the last one is the start of the longest span."""
        cuts = {
            self.as_of - timedelta(days=w) * k
            for w in self.windows
            for k in range(1, self.count + 1)
        }
        cuts = {c for c in cuts if c >= self.start}
        return sorted(cuts, reverse=True)

    @property
    def start(self) -> datetime:
        return self.as_of - timedelta(days=max(self.windows)) * self.count

    def segments(self, window: int, bucket: int) -> list[int]:
        """The segments that make up ``bucket`` (0 = newest) of ``window``."""
        width = timedelta(days=window)
        low, high = self.as_of - width * (bucket + 1), self.as_of - width * bucket
        bounds = self.boundaries
        ends = [self.as_of, *bounds[:-1]]
        return [
            i for i, (b, e) in enumerate(zip(bounds, ends, strict=True)) if b >= low and e <= high
        ]

    def segment_of(self, posted_at: Any) -> ColumnElement[int]:
        bounds = self.boundaries
        whens = [(posted_at >= b, literal(i)) for i, b in enumerate(bounds[:-1])]
        return case(*whens, else_=literal(len(bounds) - 1)) if whens else literal(0)


def views_at(as_of: datetime) -> ColumnElement[Any]:
    """The video's views as of ``as_of``: its latest scrape's, unless re-scraped after."""
    earlier = (
        select(VideoStats.views)
        .where(VideoStats.video_id == Video.id, VideoStats.scraped_at <= as_of)
        .order_by(VideoStats.scraped_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    return case((Video.latest_scraped_at <= as_of, Video.latest_views), else_=earlier)


def _known(plan: Plan, posted_at: Any) -> list[ColumnElement[bool]]:
    return [
        posted_at >= plan.start,
        posted_at < plan.as_of,
        Video.first_scraped_at <= plan.as_of,
    ]


def _segmented(plan: Plan, key: Any, posted_at: Any, *extra: Any) -> Any:
    """(key, segment, videos, views) of the known videos in the longest span."""
    segment = plan.segment_of(posted_at).label("segment")
    stmt = select(
        key.label("key"),
        segment,
        func.count().label("videos"),
        _sum(views_at(plan.as_of)).label("views"),
        *extra,
    )
    return stmt, segment


def _fold(plan: Plan, grouped: Any, *extra: Any) -> Select[Any]:
    """One row per key: videos per (window, bucket), views of each window's two newest."""
    columns: list[Any] = [grouped.c.key]
    for window in plan.windows:
        for name, column in (("c", grouped.c.videos), ("v", grouped.c.views)):
            for bucket in range(plan.count):
                inside = grouped.c.segment.in_(plan.segments(window, bucket))
                sums = _sum(case((inside, column), else_=0))
                columns.append(sums.label(f"{name}{window}_{bucket}"))
    # A key used fewer than twice in the whole span is no candidate in any window.
    return (
        select(*columns, *extra)
        .group_by(grouped.c.key)
        .having(func.sum(grouped.c.videos) >= MIN_VIDEOS)
    )


def _sum(value: Any) -> ColumnElement[int]:
    # PostgreSQL sums bigints as numeric (Decimal in Python, slow to convert): keep integers.
    return cast(func.sum(value), BigInteger)


def hashtag_query(plan: Plan) -> Select[Any]:
    stmt, segment = _segmented(plan, VideoHashtag.tag, VideoHashtag.posted_at)
    grouped = (
        stmt.join(Video, Video.id == VideoHashtag.video_id)
        .where(*_known(plan, VideoHashtag.posted_at))
        .group_by(VideoHashtag.tag, segment)
        .subquery("segments")
    )
    return _fold(plan, grouped)


def sound_query(plan: Plan) -> Select[Any]:
    original = func.max(
        case((Video.sound_original.is_(True), 1), (Video.sound_original.is_(False), 0))
    )
    stmt, segment = _segmented(
        plan,
        Video.sound_key,
        Video.posted_at,
        func.max(Video.sound_title).label("title"),
        func.max(Video.sound_author).label("author"),
        original.label("original"),
    )
    grouped = (
        stmt.where(*_known(plan, Video.posted_at), Video.sound_key.is_not(None))
        .group_by(Video.sound_key, segment)
        .subquery("segments")
    )
    c = grouped.c
    return _fold(plan, grouped, func.max(c.title), func.max(c.author), func.max(c.original))


@dataclass
class KeySeries:
    """One key's videos and views per bucket for each window (oldest bucket first)."""

    key: str
    counts: dict[int, list[int]]
    views: dict[int, list[int]]
    title: str | None = None
    author: str | None = None
    original: int | None = None


def _parse(plan: Plan, row: Sequence[Any]) -> KeySeries:
    counts: dict[int, list[int]] = {}
    views: dict[int, list[int]] = {}
    position = 1
    for window in plan.windows:
        span = row[position : position + 2 * plan.count]
        counts[window] = [int(v or 0) for v in reversed(span[: plan.count])]
        views[window] = [int(v or 0) for v in reversed(span[plan.count :])]
        position += 2 * plan.count
    series = KeySeries(str(row[0]), counts, views)
    if len(row) > position:
        series.title, series.author, series.original = row[position : position + 3]
    return series


async def tune(session: AsyncSession) -> None:
    """PostgreSQL, for this transaction: no JIT (compiling these wide aggregates costs more
    than running them) and room to hash and sort in memory instead of spilling to disk."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SET LOCAL jit = off"))
        await session.execute(text("SET LOCAL work_mem = '64MB'"))


def _score(c0: Any, c1: Any) -> ColumnElement[float]:
    """``calculate._Series.score``'s first part in SQL, with the same float operations."""
    zero, ten = literal(0.0, Float), literal(MAX_VELOCITY_FOR_RANK, Float)
    growth = case(
        (c1 <= 0, case((c0 > 0, cast(c0, Float)), else_=zero)),
        else_=cast(c0 - c1, Float) / cast(c1, Float),
    )
    clipped = case((growth < zero, zero), (growth > ten, ten), else_=growth)
    return cast(c0, Float) * (literal(1.0, Float) + clipped)


def ranked(plan: Plan, folded: Select[Any], keep: int) -> Select[Any]:
    """Only the keys ranked within ``keep`` in some window (the ranking is redone exactly
    in Python on what comes back; ``keep`` leaves it a margin)."""
    f = folded.subquery("folded")
    key = f.c.key
    binary = key.collate("C") if plan.dialect == "postgresql" else key
    extra: list[Any] = []
    for w in plan.windows:
        counts = [f.c[f"c{w}_{b}"] for b in range(plan.count)]
        c0, c1, v0 = counts[0], counts[1], f.c[f"v{w}_0"]
        total: Any = counts[0]
        for more in counts[1:]:
            total = total + more
        candidate = and_(total >= MIN_VIDEOS, or_(c0 > 0, c1 > 0))
        order = [case((candidate, 0), else_=1), _score(c0, c1).desc(), v0.desc(), binary.desc()]
        extra.append(func.row_number().over(order_by=order).label(f"rank{w}"))
        extra.append(case((candidate, 1), else_=0).label(f"candidate{w}"))
    r = select(*f.c, *extra).subquery("ranked")
    chosen = [and_(r.c[f"candidate{w}"] == 1, r.c[f"rank{w}"] <= keep) for w in plan.windows]
    return select(*(r.c[c.name] for c in f.c)).where(or_(*chosen))


async def key_series(
    session: AsyncSession, plan: Plan, *, sounds: bool, keep: int
) -> list[KeySeries]:
    """The series of the keys that may rank within ``keep`` in some window."""
    stmt = ranked(plan, sound_query(plan) if sounds else hashtag_query(plan), keep)
    return [_parse(plan, row) for row in (await session.execute(stmt)).all()]


async def current_medians(
    session: AsyncSession, plan: Plan, window: int, keys: Sequence[str], *, sounds: bool
) -> dict[str, float]:
    """Median views of the known videos of each of ``keys`` in ``window``'s newest bucket.

    PostgreSQL computes it (``percentile_cont(0.5)``: the mean of the two middle values, the
    same as Python's for integer views), so one row per key crosses the wire; SQLite has no
    percentile, so the views come back and the median is taken here.
    """
    if not keys:
        return {}
    current = Plan(plan.as_of, (window,), 1)
    key = Video.sound_key if sounds else VideoHashtag.tag
    posted = Video.posted_at if sounds else VideoHashtag.posted_at
    views = views_at(plan.as_of)
    pg = session.get_bind().dialect.name == "postgresql"
    value = func.percentile_cont(0.5).within_group(views) if pg else views
    stmt = select(key, value).where(*_known(current, posted), key.in_(list(keys)))
    if not sounds:
        stmt = stmt.join(Video, Video.id == VideoHashtag.video_id)
    rows = (await session.execute(stmt.group_by(key) if pg else stmt)).tuples()
    if pg:
        return {str(k): float(v) for k, v in rows}
    found: dict[str, list[int]] = defaultdict(list)
    for k, v in rows:
        found[str(k)].append(int(v or 0))
    return {k: median(v) for k, v in found.items()}


async def count_known(session: AsyncSession, plan: Plan, window: int) -> int:
    current = Plan(plan.as_of, (window,), 1)
    stmt = select(func.count()).select_from(Video).where(*_known(current, Video.posted_at))
    return int(await session.scalar(stmt) or 0)


__all__ = ["KeySeries", "Plan", "count_known", "current_medians", "key_series", "tune"]
