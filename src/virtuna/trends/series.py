"""One grouped query per kind gives every key's series for every window at once.

Bucket ``b`` (0 = newest) of window ``W`` holds the videos created in
``[as_of - (b+1)·W, as_of - b·W)``. The query reads the rows of the longest span once,
grouped by key only, and counts each bucket with a filtered aggregate — no intermediate
(key, segment) groups to hash, sort and fold — so one row per key crosses the wire whatever
the row count. Views are summed for the two newest buckets of each window only: ranking and
the stored entries read nothing else.

Point in time: a video counts at ``as_of`` if it was created before it and first scraped by
then, with the views of its latest snapshot scraped by ``as_of``. Those come from columns
ingest keeps on the video (first/latest scrape, latest views); only the videos re-scraped
after ``as_of`` look their views up in the snapshots.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    text,
    union,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from virtuna.engine.history import median
from virtuna.models import Video, VideoHashtag, VideoStats

MIN_VIDEOS = 2  # a key used once in the whole series is noise, not a trend
MAX_VELOCITY_FOR_RANK = 10.0
VIEW_BUCKETS = 2  # views are summed for each window's two newest buckets only


@dataclass(frozen=True, slots=True)
class Plan:
    as_of: datetime
    windows: tuple[int, ...]  # days
    count: int  # buckets per window
    dialect: str = "sqlite"

    @property
    def start(self) -> datetime:
        return self.as_of - timedelta(days=max(self.windows)) * self.count


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


def _late_views(as_of: datetime) -> Any:
    """(video_id, views as of ``as_of``) of the videos re-scraped after ``as_of`` (or never
    scraped): usually none, so joining it costs one hash probe per row where ``views_at``
    would cost the planner one correlated subquery per aggregate."""
    later = VideoStats.__table__.alias("later")
    scraped = (
        select(func.max(later.c.scraped_at))
        .where(later.c.video_id == VideoStats.video_id, later.c.scraped_at <= as_of)
        .scalar_subquery()
    )
    late = select(Video.id).where(
        or_(Video.latest_scraped_at > as_of, Video.latest_scraped_at.is_(None))
    )
    return (
        select(VideoStats.video_id, VideoStats.views)
        .where(VideoStats.video_id.in_(late), VideoStats.scraped_at == scraped)
        .subquery("late")
    )


def _known(plan: Plan, posted_at: Any) -> list[ColumnElement[bool]]:
    return [
        posted_at >= plan.start,
        posted_at < plan.as_of,
        Video.first_scraped_at <= plan.as_of,
    ]


def _bucket(plan: Plan, posted_at: Any, window: int, bucket: int) -> ColumnElement[bool]:
    """Created in ``bucket`` (0 = newest) of ``window``: ``[as_of - (b+1)·W, as_of - b·W)``."""
    width = timedelta(days=window)
    return and_(
        posted_at >= plan.as_of - width * (bucket + 1), posted_at < plan.as_of - width * bucket
    )


def _series_columns(plan: Plan, posted_at: Any, late: Any) -> list[Any]:
    """Per window: the videos of every bucket and the views of the ``VIEW_BUCKETS`` newest
    (the only ones ranking and entries read), each one filtered aggregate of the same pass;
    the views are ``views_at``'s, with ``late`` (``_late_views``) joined."""
    current = Video.latest_scraped_at <= plan.as_of
    views = case((current, Video.latest_views), else_=late.c.views)
    columns: list[Any] = []
    for window in plan.windows:
        for bucket in range(plan.count):
            videos = func.count().filter(_bucket(plan, posted_at, window, bucket))
            columns.append(videos.label(f"c{window}_{bucket}"))
        for bucket in range(VIEW_BUCKETS):
            summed = func.sum(views).filter(_bucket(plan, posted_at, window, bucket))
            # PostgreSQL sums bigints as numeric (Decimal in Python, slow): keep integers.
            columns.append(cast(summed, BigInteger).label(f"v{window}_{bucket}"))
    return columns


def hashtag_query(plan: Plan) -> Select[Any]:
    """One row per tag with its series, in one pass over the span's hashtag rows; a tag
    used fewer than twice in the whole span is no candidate in any window."""
    posted, late = VideoHashtag.posted_at, _late_views(plan.as_of)
    return (
        select(VideoHashtag.tag.label("key"), *_series_columns(plan, posted, late))
        .join(Video, Video.id == VideoHashtag.video_id)
        .outerjoin(late, late.c.video_id == Video.id)
        .where(*_known(plan, posted))
        .group_by(VideoHashtag.tag)
        .having(func.count() >= MIN_VIDEOS)
    )


def sound_query(plan: Plan) -> Select[Any]:
    """The same per sound key (its title, author and flag are read for the ranked keys only,
    by ``sound_identities``)."""
    late = _late_views(plan.as_of)
    return (
        select(Video.sound_key.label("key"), *_series_columns(plan, Video.posted_at, late))
        .outerjoin(late, late.c.video_id == Video.id)
        .where(*_known(plan, Video.posted_at), Video.sound_key.is_not(None))
        .group_by(Video.sound_key)
        .having(func.count() >= MIN_VIDEOS)
    )


@dataclass
class KeySeries:
    """One key's videos per bucket for each window and the views of the ``VIEW_BUCKETS``
    newest buckets (oldest first, so ``[-1]`` is the current bucket)."""

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
        span = row[position : position + plan.count + VIEW_BUCKETS]
        counts[window] = [int(v or 0) for v in reversed(span[: plan.count])]
        views[window] = [int(v or 0) for v in reversed(span[plan.count :])]
        position += plan.count + VIEW_BUCKETS
    return KeySeries(str(row[0]), counts, views)


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


def ranked(plan: Plan, grouped: Select[Any], keep: int) -> Select[Any]:
    """Only the keys ranked within ``keep`` among some window's candidates: a bounded top-N
    per window over the grouped rows (the ranking is redone exactly in Python on what comes
    back; ``keep`` leaves it a margin)."""
    f = grouped.cte("series")
    key = f.c.key
    binary = key.collate("C") if plan.dialect == "postgresql" else key
    tops: list[Any] = []
    for w in plan.windows:
        counts = [f.c[f"c{w}_{b}"] for b in range(plan.count)]
        c0, c1, v0 = counts[0], counts[1], f.c[f"v{w}_0"]
        total: Any = counts[0]
        for more in counts[1:]:
            total = total + more
        top = (
            select(key)
            .where(total >= MIN_VIDEOS, or_(c0 > 0, c1 > 0))
            .order_by(_score(c0, c1).desc(), v0.desc(), binary.desc())
            .limit(keep)
            .subquery(f"top{w}")
        )
        tops.append(select(top.c.key))
    return select(f).where(key.in_(union(*tops)))


async def sound_identities(
    session: AsyncSession, plan: Plan, rows: list[KeySeries]
) -> list[KeySeries]:
    """Fill in each sound's title, author and original flag: the greatest of its known
    videos in the span (read for the ranked keys only, not aggregated over every row)."""
    original = func.max(
        case((Video.sound_original.is_(True), 1), (Video.sound_original.is_(False), 0))
    )
    found: dict[str, tuple[Any, ...]] = {}
    for start in range(0, len(rows), 500):
        keys = [row.key for row in rows[start : start + 500]]
        stmt = (
            select(Video.sound_key, func.max(Video.sound_title), func.max(Video.sound_author))
            .add_columns(original)
            .where(*_known(plan, Video.posted_at), Video.sound_key.in_(keys))
            .group_by(Video.sound_key)
        )
        found.update({str(r[0]): tuple(r[1:]) for r in (await session.execute(stmt)).all()})
    for row in rows:
        row.title, row.author, row.original = found.get(row.key, (None, None, None))
    return rows


async def key_series(
    session: AsyncSession, plan: Plan, *, sounds: bool, keep: int
) -> list[KeySeries]:
    """The series of the keys that may rank within ``keep`` in some window."""
    stmt = ranked(plan, sound_query(plan) if sounds else hashtag_query(plan), keep)
    rows = [_parse(plan, row) for row in (await session.execute(stmt)).all()]
    return await sound_identities(session, plan, rows) if sounds else rows


def _median_query(
    plan: Plan, wanted: dict[int, set[str]], since: dict[int, datetime], *, sounds: bool, pg: bool
) -> Select[Any]:
    """PostgreSQL: (key, one median per window); SQLite: (key, posted_at, views) rows."""
    key = Video.sound_key if sounds else VideoHashtag.tag
    posted = Video.posted_at if sounds else VideoHashtag.posted_at
    views = views_at(plan.as_of)
    every = sorted(set().union(*wanted.values()))
    where = [*_known(Plan(plan.as_of, (max(wanted),), 1), posted), key.in_(every)]
    if pg:
        medians = [
            func.percentile_cont(0.5)
            .within_group(views)
            .filter(and_(posted >= since[w], key.in_(sorted(wanted[w]))))
            for w in wanted
        ]
        stmt = select(key, *medians).where(*where).group_by(key)
    else:
        stmt = select(key, posted, views).where(*where)
    return stmt if sounds else stmt.join(Video, Video.id == VideoHashtag.video_id)


async def current_medians(
    session: AsyncSession, plan: Plan, keys: Mapping[int, Sequence[str]], *, sounds: bool
) -> dict[int, dict[str, float]]:
    """Per window, median views of the known videos of each of its ``keys`` in its newest
    bucket — one pass over the longest window's newest bucket for every window.

    PostgreSQL computes it (``percentile_cont(0.5)``: the mean of the two middle values, the
    same as Python's for integer views), so one row per key crosses the wire; SQLite has no
    percentile, so the views come back and the median is taken here.
    """
    wanted = {w: set(k) for w, k in keys.items() if k}
    result: dict[int, dict[str, float]] = {w: {} for w in keys}
    if not wanted:
        return result
    since = {w: plan.as_of - timedelta(days=w) for w in wanted}
    pg = session.get_bind().dialect.name == "postgresql"
    stmt = _median_query(plan, wanted, since, sounds=sounds, pg=pg)
    rows = (await session.execute(stmt)).all()
    if not pg:
        return _python_medians(rows, wanted, since, result)
    for row in rows:
        for window, value in zip(wanted, row[1:], strict=True):
            if value is not None:
                result[window][str(row[0])] = float(value)
    return result


def _python_medians(
    rows: Sequence[Any],
    wanted: dict[int, set[str]],
    since: dict[int, datetime],
    result: dict[int, dict[str, float]],
) -> dict[int, dict[str, float]]:
    found: dict[int, dict[str, list[int]]] = {w: defaultdict(list) for w in wanted}
    for k, posted, v in rows:
        for window, chosen in wanted.items():
            if posted >= since[window] and str(k) in chosen:
                found[window][str(k)].append(int(v or 0))
    for window, values in found.items():
        result[window] = {k: median(v) for k, v in values.items()}
    return result


async def count_known(session: AsyncSession, plan: Plan, window: int) -> int:
    current = Plan(plan.as_of, (window,), 1)
    stmt = select(func.count()).select_from(Video).where(*_known(current, Video.posted_at))
    return int(await session.scalar(stmt) or 0)


__all__ = ["KeySeries", "Plan", "count_known", "current_medians", "key_series", "tune"]
