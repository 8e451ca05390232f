"""Build the engine's point-in-time inputs (creator context, trend snapshot) from the database.

The definitions live in ``virtuna.engine.history`` and are shared with training; this module
only gathers the rows. Views of a prior video are its latest stored snapshot, as in training
(where they are the views at scrape time).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.engine.features import sound_key
from virtuna.engine.history import (
    PriorVideo,
    creator_context,
    history_cutoff,
    sound_lookup,
    trend_snapshot,
    trend_window,
)
from virtuna.engine.types import CreatorContext, TrendSnapshot
from virtuna.models import Creator, Video, VideoHashtag, VideoStats


async def latest_views(
    session: AsyncSession, video_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, float]:
    ids = list(video_ids)
    if not ids:
        return {}
    latest = (
        select(VideoStats.video_id, func.max(VideoStats.scraped_at).label("at"))
        .where(VideoStats.video_id.in_(ids))
        .group_by(VideoStats.video_id)
        .subquery()
    )
    rows = await session.execute(
        select(VideoStats.video_id, VideoStats.views).join(
            latest,
            (VideoStats.video_id == latest.c.video_id) & (VideoStats.scraped_at == latest.c.at),
        )
    )
    return {vid: float(views) for vid, views in rows.tuples()}


async def creator_context_at(
    session: AsyncSession, *, handle: str | None, as_of: datetime
) -> CreatorContext | None:
    """The creator's context as of ``as_of``; None when the creator is unknown here."""
    if not handle:
        return None
    creator = await session.scalar(select(Creator).where(Creator.handle == handle))
    videos = (
        (
            await session.execute(
                select(Video.id, Video.posted_at).where(
                    Video.author_handle == handle, Video.posted_at < history_cutoff(as_of)
                )
            )
        )
        .tuples()
        .all()
    )
    if creator is None and not videos:
        return None
    views = await latest_views(session, (vid for vid, _ in videos))
    prior = [PriorVideo(created_at=at, views=views[vid]) for vid, at in videos if vid in views]
    return creator_context(
        as_of=as_of,
        handle=handle,
        followers=creator.followers if creator else None,
        verified=creator.verified if creator else None,
        prior=prior,
    )


async def trend_snapshot_at(
    session: AsyncSession,
    *,
    as_of: datetime,
    hashtags: Sequence[str],
    sound_title: str | None,
    sound_author: str | None,
) -> TrendSnapshot:
    """Usage and median views of the draft's hashtags and sound in the trend window."""
    start, end = trend_window(as_of)
    in_window = (Video.posted_at >= start) & (Video.posted_at < end)
    total = int(await session.scalar(select(func.count()).select_from(Video).where(in_window)) or 0)
    tag_rows = (
        (
            await session.execute(
                select(VideoHashtag.tag, VideoHashtag.video_id).where(
                    VideoHashtag.tag.in_(list(hashtags)),
                    VideoHashtag.posted_at >= start,
                    VideoHashtag.posted_at < end,
                )
            )
        )
        .tuples()
        .all()
        if hashtags
        else []
    )
    lookup = sound_lookup(sound_title, sound_author)
    sound_rows = await _sound_rows(session, in_window, sound_title, lookup)
    views = await latest_views(session, {vid for _, vid in tag_rows} | set(sound_rows))
    tag_views: dict[str, list[float]] = defaultdict(list)
    for tag, vid in tag_rows:
        if vid in views:
            tag_views[tag].append(views[vid])
    sound_views: dict[str, list[float]] = {}
    if lookup is not None:
        sound_views[lookup[0]] = [views[vid] for vid in sound_rows if vid in views]
    return trend_snapshot(
        as_of=as_of, total_videos=total, hashtag_views=tag_views, sound_views=sound_views
    )


async def _sound_rows(
    session: AsyncSession,
    in_window: object,
    title: str | None,
    lookup: tuple[str, str | None] | None,
) -> list[uuid.UUID]:
    """Videos in the window counted under the draft's sound (see ``sound_lookup``)."""
    if lookup is None or title is None:
        return []
    key, pooled_title = lookup
    # SQL narrows by title with the same lower() on both sides (SQLite folds ASCII only, so
    # comparing with a Python-lowered title would miss every "Đ…" title); Python then
    # applies the exact definition.
    rows = await session.execute(
        select(Video.sound_title, Video.sound_author, Video.id).where(
            in_window,  # type: ignore[arg-type]
            func.lower(func.trim(Video.sound_title)) == func.lower(title.strip()),
        )
    )
    out = []
    for t, a, vid in rows.tuples():
        found = sound_key(t, a)
        if found is not None and (
            found == key if pooled_title is None else found.split("|", 1)[0] == pooled_title
        ):
            out.append(vid)
    return out
