"""SQL for trends: the stored snapshots and their entries (the usage series themselves are
computed by ``virtuna.trends.series``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.models import (
    TrendingHashtag,
    TrendingSound,
    TrendSnapshotRun,
    VideoStats,
)


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
    # Core executemany on the table: the ORM's bulk path costs ~1 ms a row here.
    connection = await session.connection()
    for start in range(0, len(rows), 1000):
        await connection.execute(model.__table__.insert(), rows[start : start + 1000])


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
