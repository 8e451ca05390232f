"""SQL for trends: per-key usage series from the scraped tables, and the stored snapshots.

The aggregation runs in the database (one grouped query per kind and window), so only one
row per (key, bucket) crosses the wire, whatever the number of snapshot rows. A video counts
at ``as_of`` only if it was created before it *and* scraped by then (point in time), and its
views are those of its latest snapshot scraped at or before ``as_of``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, delete, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from virtuna.models import (
    TrendingHashtag,
    TrendingSound,
    TrendSnapshotRun,
    Video,
    VideoHashtag,
    VideoStats,
)


@dataclass(frozen=True, slots=True)
class Buckets:
    """``count`` consecutive buckets of ``width`` ending at ``as_of``; bucket 0 is newest."""

    as_of: datetime
    width: timedelta
    count: int

    @property
    def start(self) -> datetime:
        return self.as_of - self.width * self.count

    def index(self, posted_at: Any) -> ColumnElement[int]:
        whens = [
            (posted_at >= self.as_of - self.width * (i + 1), literal(i))
            for i in range(self.count - 1)
        ]
        return case(*whens, else_=literal(self.count - 1)) if whens else literal(0)


def _known_views(buckets: Buckets) -> Any:
    """(video_id, posted_at, views) of videos created in range and scraped by ``as_of``."""
    latest = (
        select(VideoStats.video_id, func.max(VideoStats.scraped_at).label("at"))
        .join(Video, Video.id == VideoStats.video_id)
        .where(
            Video.posted_at >= buckets.start,
            Video.posted_at < buckets.as_of,
            VideoStats.scraped_at <= buckets.as_of,
        )
        .group_by(VideoStats.video_id)
        .subquery("latest")
    )
    return (
        select(VideoStats.video_id, VideoStats.views)
        .join(
            latest,
            and_(VideoStats.video_id == latest.c.video_id, VideoStats.scraped_at == latest.c.at),
        )
        .subquery("known")
    )


def hashtag_series_query(buckets: Buckets) -> Select[Any]:
    known = _known_views(buckets)
    bucket = buckets.index(VideoHashtag.posted_at).label("bucket")
    return (
        select(
            VideoHashtag.tag,
            bucket,
            func.count().label("videos"),
            func.sum(known.c.views).label("views"),
        )
        .join(known, known.c.video_id == VideoHashtag.video_id)
        .where(VideoHashtag.posted_at >= buckets.start, VideoHashtag.posted_at < buckets.as_of)
        .group_by(VideoHashtag.tag, bucket)
    )


def _original_flag() -> ColumnElement[Any]:
    # 1 if any video says "original", 0 if all say "commercial", NULL if none says.
    return func.max(case((Video.sound_original.is_(True), 1), (Video.sound_original.is_(False), 0)))


def sound_series_query(buckets: Buckets) -> Select[Any]:
    known = _known_views(buckets)
    bucket = buckets.index(Video.posted_at).label("bucket")
    return (
        select(
            Video.sound_id,
            Video.sound_title,
            Video.sound_author,
            bucket,
            func.count().label("videos"),
            func.sum(known.c.views).label("views"),
            _original_flag().label("original"),
        )
        .join(known, known.c.video_id == Video.id)
        .where(Video.sound_title.is_not(None) | Video.sound_id.is_not(None))
        .group_by(Video.sound_id, Video.sound_title, Video.sound_author, bucket)
    )


async def hashtag_series(session: AsyncSession, buckets: Buckets) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in (await session.execute(hashtag_series_query(buckets))).all()]


async def sound_series(session: AsyncSession, buckets: Buckets) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in (await session.execute(sound_series_query(buckets))).all()]


async def current_hashtag_views(
    session: AsyncSession, buckets: Buckets, tags: Sequence[str]
) -> list[tuple[str, int]]:
    """(tag, views) of every known video in the current bucket, for the chosen tags."""
    if not tags:
        return []
    current = Buckets(buckets.as_of, buckets.width, 1)
    known = _known_views(current)
    stmt = (
        select(VideoHashtag.tag, known.c.views)
        .join(known, known.c.video_id == VideoHashtag.video_id)
        .where(VideoHashtag.tag.in_(list(tags)))
    )
    return [(t, int(v)) for t, v in (await session.execute(stmt)).tuples()]


async def current_sound_views(
    session: AsyncSession, buckets: Buckets
) -> list[tuple[str | None, str | None, str | None, int]]:
    current = Buckets(buckets.as_of, buckets.width, 1)
    known = _known_views(current)
    stmt = select(Video.sound_id, Video.sound_title, Video.sound_author, known.c.views).join(
        known, known.c.video_id == Video.id
    )
    return [(i, t, a, int(v)) for i, t, a, v in (await session.execute(stmt)).tuples()]


async def count_videos_between(session: AsyncSession, start: datetime, end: datetime) -> int:
    known = _known_views(Buckets(end, end - start, 1))
    return int(await session.scalar(select(func.count()).select_from(known)) or 0)


async def stats_rows_until(session: AsyncSession, as_of: datetime) -> int:
    stmt = select(func.count()).select_from(VideoStats).where(VideoStats.scraped_at <= as_of)
    return int(await session.scalar(stmt) or 0)


async def latest_scrape(session: AsyncSession) -> datetime | None:
    value: datetime | None = await session.scalar(select(func.max(VideoStats.scraped_at)))
    return value


# --- stored snapshots --------------------------------------------------------------------


def _insert(session: AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def find_snapshot(
    session: AsyncSession, *, as_of: datetime, algorithm: str, params: str, source_rows: int
) -> TrendSnapshotRun | None:
    found: TrendSnapshotRun | None = await session.scalar(
        select(TrendSnapshotRun).where(
            TrendSnapshotRun.as_of == as_of,
            TrendSnapshotRun.algorithm == algorithm,
            TrendSnapshotRun.params == params,
            TrendSnapshotRun.source_rows == source_rows,
        )
    )
    return found


async def insert_snapshot(session: AsyncSession, values: dict[str, Any]) -> uuid.UUID | None:
    """Insert-or-nothing on its identity; None if the same snapshot already exists."""
    stmt = (
        _insert(session, TrendSnapshotRun)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["as_of", "algorithm", "params", "source_rows"])
        .returning(TrendSnapshotRun.id)
    )
    inserted: uuid.UUID | None = await session.scalar(stmt)
    return inserted


async def insert_entries(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 1000):
        await session.execute(_insert(session, model), rows[start : start + 1000])


async def delete_snapshots_before(session: AsyncSession, cutoff: datetime, keep: uuid.UUID) -> int:
    # Entries go first: SQLite only cascades with foreign keys on, and this must not depend
    # on connection pragmas.
    old = select(TrendSnapshotRun.id).where(
        TrendSnapshotRun.computed_at < cutoff, TrendSnapshotRun.id != keep
    )
    for model in (TrendingSound, TrendingHashtag):
        await session.execute(delete(model).where(model.snapshot_id.in_(old)))
    result = await session.execute(
        delete(TrendSnapshotRun).where(
            TrendSnapshotRun.computed_at < cutoff, TrendSnapshotRun.id != keep
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def latest_snapshot(
    session: AsyncSession, *, as_of: datetime | None = None
) -> TrendSnapshotRun | None:
    stmt = select(TrendSnapshotRun)
    if as_of is not None:
        stmt = stmt.where(TrendSnapshotRun.as_of <= as_of)
    stmt = stmt.order_by(TrendSnapshotRun.as_of.desc(), TrendSnapshotRun.computed_at.desc())
    found: TrendSnapshotRun | None = await session.scalar(stmt.limit(1))
    return found


async def list_entries(
    session: AsyncSession,
    model: Any,
    *,
    snapshot_id: uuid.UUID,
    window_days: int,
    phase: str | None = None,
    search: str | None = None,
    original: bool | None = None,
    include_generic: bool = True,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Any], int]:
    where = [model.snapshot_id == snapshot_id, model.window_days == window_days]
    if phase is not None:
        where.append(model.phase == phase)
    if search:
        column = model.tag if model is TrendingHashtag else model.title
        where.append(func.lower(column).contains(search.lower(), autoescape=True))
    if original is not None and model is TrendingSound:
        where.append(model.is_original.is_(original))
    if not include_generic and model is TrendingHashtag:
        where.append(model.is_generic.is_(False))
    total = int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)
    rows = await session.scalars(
        select(model).where(*where).order_by(model.rank).offset(offset).limit(limit)
    )
    return list(rows), total


async def sound_history(
    session: AsyncSession, *, sound_key: str, window_days: int, limit: int
) -> list[tuple[TrendSnapshotRun, TrendingSound]]:
    stmt = (
        select(TrendSnapshotRun, TrendingSound)
        .join(TrendingSound, TrendingSound.snapshot_id == TrendSnapshotRun.id)
        .where(TrendingSound.sound_key == sound_key, TrendingSound.window_days == window_days)
        .order_by(TrendSnapshotRun.as_of.desc(), TrendSnapshotRun.computed_at.desc())
        .limit(limit)
    )
    return [(s, e) for s, e in (await session.execute(stmt)).tuples()]


async def phase_counts(
    session: AsyncSession, model: Any, *, snapshot_id: uuid.UUID, window_days: int
) -> dict[str, int]:
    stmt = (
        select(model.phase, func.count())
        .where(model.snapshot_id == snapshot_id, model.window_days == window_days)
        .group_by(model.phase)
    )
    return {str(p): int(n) for p, n in (await session.execute(stmt)).tuples()}


async def snapshot_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(TrendSnapshotRun)) or 0)
