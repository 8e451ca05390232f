"""Write one ingest batch: creators, videos, hashtags and stats snapshots, on either backend.

PostgreSQL: each table's rows go through COPY into a session temp table, then one
``INSERT … SELECT … ORDER BY key ON CONFLICT …`` (rows de-duplicated and sorted by key, so
concurrent ingesters lock in the same order and never deadlock — D2). The video upsert
returns each video's id and whether it was new (``xmax = 0``), the hashtag rows are derived
in the database from the staged videos' tag arrays, and the stats insert returns the
snapshots it added — no extra round trip to read back what was just written.

SQLite: executemany upserts (one statement looped in C), with lookups for ids and
existing snapshots.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.videos import repository

Ids = dict[str, uuid.UUID]


def _is_pg(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def write_videos(
    session: AsyncSession, creators: list[dict[str, Any]], videos: list[dict[str, Any]]
) -> tuple[Ids, set[str]]:
    """Upsert creators, videos and their hashtags; (id per TikTok id, TikTok ids added)."""
    if _is_pg(session):
        return await _write_videos_pg(session, creators, videos)
    known = await repository.existing_video_ids(session, [v["tiktok_id"] for v in videos])
    await repository.upsert_creators(session, creators)
    await repository.upsert_videos(session, videos)
    ids = await repository.existing_video_ids(session, [v["tiktok_id"] for v in videos])
    await repository.insert_hashtags(
        session,
        [
            {"video_id": ids[v["tiktok_id"]], "tag": tag, "posted_at": v["posted_at"]}
            for v in videos
            for tag in v["hashtags"]
        ],
    )
    return ids, set(ids) - set(known)


async def _write_videos_pg(
    session: AsyncSession, creators: list[dict[str, Any]], videos: list[dict[str, Any]]
) -> tuple[Ids, set[str]]:
    await repository.upsert_creators(session, creators)
    returned = await repository.upsert_videos(
        session, videos, returning=("tiktok_id", "id", "(xmax = 0)")
    )
    ids = {tiktok_id: video_id for tiktok_id, video_id, _ in returned}
    added = {tiktok_id for tiktok_id, _, inserted in returned if inserted}
    # The staged videos are still in their temp table: expand their tag arrays there.
    await session.execute(
        text(
            "INSERT INTO video_hashtags (video_id, tag, posted_at) "
            "SELECT v.id, t.tag, v.posted_at FROM staging_videos s "
            "JOIN videos v ON v.tiktok_id = s.tiktok_id "
            "CROSS JOIN LATERAL jsonb_array_elements_text(s.hashtags) AS t(tag) "
            "ORDER BY v.id, t.tag ON CONFLICT DO NOTHING"
        )
    )
    return ids, added


async def insert_stats(
    session: AsyncSession, rows: list[dict[str, Any]]
) -> set[tuple[uuid.UUID, datetime]]:
    """Insert the snapshots not stored yet; the (video, scraped_at) keys added."""
    if not _is_pg(session) or not rows:
        return await repository.insert_stats(session, rows)
    unique = {(r["video_id"], r["scraped_at"]): r for r in rows}
    ordered = sorted(unique.values(), key=lambda r: (str(r["video_id"]), r["scraped_at"]))
    returned = await repository.insert_new_stats(session, ordered)
    return {(video_id, scraped_at) for video_id, scraped_at in returned}
