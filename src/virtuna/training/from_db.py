"""Training records from the database: scraped videos with their latest stats snapshot.

The same ``VideoRecord`` the file reader builds, so every later step (point-in-time history,
features, fitting, evaluation) is the one the shipped model went through. Per video:

- views: the latest snapshot's count; ``scraped_at``: that snapshot's time (for the age
  filter only, never a feature);
- followers: the creator's count as read in that same snapshot (what a file row holds),
  else the creator's latest known count; verified: the creator's flag;
- the submitted draft: the stored fields put back into the scraper item shape and mapped
  by ``engine.scraped``, exactly as for a file row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.engine.scraped import draft_from_scraper_item
from virtuna.models import Creator, Video, VideoStats
from virtuna.training.records import DraftFields, Outcome, VideoRecord

CHUNK = 20_000


def _record(row: Sequence[Any]) -> VideoRecord:
    (tiktok_id, source, caption, hashtags, posted_at, duration, sound_title, sound_author,
     sound_original, handle, views, scraped_at, snap_followers, followers, verified,
     web_url) = row  # fmt: skip
    fans = snap_followers if snap_followers is not None else followers
    item = {  # the scraper item this row was ingested from, pre-posting fields only
        "text": caption,
        "createTimeISO": posted_at.isoformat(),
        "authorMeta": {"name": handle, "fans": fans, "verified": verified},
        "musicMeta": {"musicName": sound_title, "musicAuthor": sound_author,
                      "musicOriginal": sound_original},
        "videoMeta": {"duration": duration},
        "hashtags": [{"name": t} for t in hashtags or ()],
        "webVideoUrl": web_url,
    }  # fmt: skip
    draft = DraftFields(
        caption=caption or "",
        hashtags=tuple(hashtags or ()),
        created_at=posted_at,
        duration_seconds=duration,
        sound_title=sound_title,
        sound_author=sound_author,
        sound_original=sound_original,
        author=handle,
        followers=None if fans is None else int(fans),
        verified=verified,
    )
    return VideoRecord(id=tiktok_id, source=source, draft=draft,
                       outcome=Outcome(views=int(views), scraped_at=scraped_at),
                       submitted=draft_from_scraper_item(item))  # fmt: skip


async def records_from_db(session: AsyncSession) -> list[VideoRecord]:
    """Every stored video with a stats snapshot, oldest first."""
    latest = (
        select(VideoStats.video_id, func.max(VideoStats.scraped_at).label("at"))
        .group_by(VideoStats.video_id)
        .subquery()
    )
    stmt = (
        select(
            Video.tiktok_id,
            Video.source,
            Video.caption,
            Video.hashtags,
            Video.posted_at,
            Video.duration_seconds,
            Video.sound_title,
            Video.sound_author,
            Video.sound_original,
            Video.author_handle,
            VideoStats.views,
            VideoStats.scraped_at,
            VideoStats.author_followers,
            Creator.followers,
            Creator.verified,
            Video.web_url,
        )  # fmt: skip
        .join(latest, latest.c.video_id == Video.id)
        .join(
            VideoStats,
            (VideoStats.video_id == Video.id) & (VideoStats.scraped_at == latest.c.at),
        )
        .outerjoin(Creator, Creator.handle == Video.author_handle)
        .order_by(Video.posted_at, Video.tiktok_id)
        .execution_options(yield_per=CHUNK)
    )
    result = await session.stream(stmt)
    return [_record(row) async for row in result]
