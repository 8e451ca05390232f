"""SQL for scraped videos: batched, sorted, de-duplicated upserts on both backends.

Batches are de-duplicated and sorted by key before the upsert so concurrent ingesters take
row locks in the same order (unsorted batches deadlock on PostgreSQL).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.models import Creator, Video, VideoHashtag, VideoStats


def _insert(session: AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def existing_video_ids(
    session: AsyncSession, tiktok_ids: Sequence[str]
) -> dict[str, uuid.UUID]:
    rows = await session.execute(
        select(Video.tiktok_id, Video.id).where(Video.tiktok_id.in_(tiktok_ids))
    )
    return dict(rows.tuples().all())


async def upsert_videos(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    rows = sorted(rows, key=lambda r: r["tiktok_id"])
    stmt = _insert(session, Video)
    updatable = (
        "caption",
        "hashtags",
        "sound_id",
        "sound_title",
        "sound_author",
        "sound_original",
        "duration_seconds",
        "web_url",
        "author_handle",
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[Video.tiktok_id],
        set_={name: getattr(stmt.excluded, name) for name in updatable},
    )
    await session.execute(stmt, rows)


async def insert_hashtags(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        rows = sorted(rows, key=lambda r: (str(r["video_id"]), r["tag"]))
        await session.execute(_insert(session, VideoHashtag).on_conflict_do_nothing(), rows)


async def insert_stats(
    session: AsyncSession, rows: list[dict[str, Any]]
) -> set[tuple[uuid.UUID, datetime]]:
    """Insert snapshots not already stored; returns the (video, scraped_at) keys added."""
    if not rows:
        return set()
    keys = {(r["video_id"], r["scraped_at"]) for r in rows}
    video_ids = sorted({r["video_id"] for r in rows}, key=str)
    present = await session.execute(
        select(VideoStats.video_id, VideoStats.scraped_at).where(VideoStats.video_id.in_(video_ids))
    )
    seen = set(present.tuples())
    fresh = sorted(
        (r for r in rows if (r["video_id"], r["scraped_at"]) not in seen),
        key=lambda r: (str(r["video_id"]), r["scraped_at"]),
    )
    if fresh:
        await session.execute(_insert(session, VideoStats).on_conflict_do_nothing(), fresh)
    return keys - seen


async def upsert_creators(session: AsyncSession, rows: Iterable[dict[str, Any]]) -> None:
    ordered = sorted(rows, key=lambda r: r["handle"])
    if not ordered:
        return
    stmt = _insert(session, Creator)
    newer = stmt.excluded.followers_seen_at >= func.coalesce(
        Creator.followers_seen_at, stmt.excluded.followers_seen_at
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[Creator.handle],
        set_={
            "platform_id": func.coalesce(stmt.excluded.platform_id, Creator.platform_id),
            "nickname": func.coalesce(stmt.excluded.nickname, Creator.nickname),
            "verified": func.coalesce(stmt.excluded.verified, Creator.verified),
            "followers": func.coalesce(
                _case(newer, stmt.excluded.followers, Creator.followers), Creator.followers
            ),
            "followers_seen_at": func.coalesce(
                _case(newer, stmt.excluded.followers_seen_at, Creator.followers_seen_at),
                Creator.followers_seen_at,
            ),
            "updated_at": stmt.excluded.updated_at,
        },
    )
    await session.execute(stmt, ordered)


def _case(condition: Any, then: Any, otherwise: Any) -> Any:
    from sqlalchemy import case

    return case((condition, then), else_=otherwise)


async def count_videos(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Video)) or 0)


async def latest_scrape(session: AsyncSession) -> datetime | None:
    value: datetime | None = await session.scalar(select(func.max(VideoStats.scraped_at)))
    return value
