"""Ingest scraped TikTok items: validate each, upsert videos/creators, add stats snapshots.

Idempotent: a video is keyed by its TikTok id and a snapshot by (video, scrape time), so
re-ingesting the same file adds nothing. A bad item is rejected with its reason and never
stops the file; a batch is written in one transaction, so no video is ever half-written.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.engine.features import sound_key
from virtuna.models.base import utcnow
from virtuna.videos import bulk
from virtuna.videos.schemas import ScraperItem

BATCH_SIZE = 1000
MAX_REPORTED_ERRORS = 50


@dataclass
class IngestReport:
    new: int = 0
    updated: int = 0  # known videos that got a new stats snapshot
    unchanged: int = 0
    snapshots: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, other: IngestReport) -> None:
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.snapshots += other.snapshots
        self.rejected += other.rejected
        room = MAX_REPORTED_ERRORS - len(self.errors)
        self.errors.extend(other.errors[: max(room, 0)])

    def as_dict(self) -> dict[str, Any]:
        return {
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "snapshots": self.snapshots,
            "rejected": self.rejected,
            "errors": self.errors,
        }


def _reason(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "item"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def validate_items(
    records: Iterable[tuple[int, Any]],
) -> Iterator[tuple[int, ScraperItem | str]]:
    """Each record as a valid item, or the reason it was rejected."""
    for position, raw in records:
        if isinstance(raw, Exception):
            yield position, f"invalid JSON: {raw}"
        elif not isinstance(raw, dict):
            yield position, f"expected an object, got {type(raw).__name__}"
        else:
            try:
                yield position, ScraperItem.model_validate(raw)
            except ValidationError as exc:
                yield position, _reason(exc)


def _latest_per_video(items: list[ScraperItem], default_scraped_at: datetime) -> list[ScraperItem]:
    best: dict[str, ScraperItem] = {}
    for item in items:
        current = best.get(item.id)
        when = item.scraped_at or default_scraped_at
        if current is None or when >= (current.scraped_at or default_scraped_at):
            best[item.id] = item
    return list(best.values())


def sound_identity(sound_id: str | None, title: str | None, author: str | None) -> str | None:
    """A sound's trend key: TikTok's music id when known, else the engine's ``title|author``."""
    if sound_id:
        return f"id:{sound_id}"
    return sound_key(title, author)


def _video_row(
    item: ScraperItem, source: str, first_scraped_at: datetime, scraped_at: datetime
) -> dict[str, Any]:
    music = item.music_meta
    sound = (music.music_id, music.music_name, music.music_author) if music else (None,) * 3
    return {
        "id": uuid.uuid4(),
        "tiktok_id": item.id,
        "author_handle": item.author_meta.name,
        "caption": item.text,
        "hashtags": item.tag_names(),
        "sound_id": music.music_id if music else None,
        "sound_title": music.music_name if music else None,
        "sound_author": music.music_author if music else None,
        "sound_original": music.music_original if music else None,
        "duration_seconds": item.video_meta.duration if item.video_meta else None,
        "posted_at": item.create_time,
        "web_url": item.web_video_url,
        "source": source,
        "first_seen_at": utcnow(),
        "sound_key": sound_identity(*sound),
        "first_scraped_at": first_scraped_at,
        "latest_scraped_at": scraped_at,
        "latest_views": item.play_count,
    }


def _first_scrapes(items: list[ScraperItem], default_scraped_at: datetime) -> dict[str, datetime]:
    first: dict[str, datetime] = {}
    for item in items:
        when = item.scraped_at or default_scraped_at
        if item.id not in first or when < first[item.id]:
            first[item.id] = when
    return first


def _creator_rows(items: list[ScraperItem], default_scraped_at: datetime) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for item in sorted(items, key=lambda i: i.scraped_at or default_scraped_at):
        author = item.author_meta
        rows[author.name] = {
            "id": uuid.uuid4(),
            "handle": author.name,
            "platform_id": author.id,
            "nickname": author.nick_name,
            "verified": author.verified,
            "followers": author.fans,
            "followers_seen_at": item.scraped_at or default_scraped_at,
            "updated_at": utcnow(),
        }
    return list(rows.values())


async def ingest_batch(
    session: AsyncSession,
    items: list[ScraperItem],
    *,
    source: str,
    default_scraped_at: datetime,
    run_id: str | None = None,
) -> IngestReport:
    """Upsert one batch of valid items (the caller owns the transaction)."""
    report = IngestReport()
    unique = _latest_per_video(items, default_scraped_at)
    if not unique:
        return report
    first = _first_scrapes(items, default_scraped_at)
    ids, added = await bulk.write_videos(
        session,
        _creator_rows(unique, default_scraped_at),
        [_video_row(i, source, first[i.id], i.scraped_at or default_scraped_at) for i in unique],
    )
    report.new = len(added)
    stats = [_stats_row(i, ids[i.id], default_scraped_at, run_id) for i in items]
    fresh = await bulk.insert_stats(session, stats)
    report.snapshots = len(fresh)
    refreshed = {video_id for video_id, _ in fresh} - {ids[t] for t in added}
    report.updated = len(refreshed)
    report.unchanged = len(unique) - report.new - report.updated
    return report


def _stats_row(
    item: ScraperItem, video_id: uuid.UUID, default_scraped_at: datetime, run_id: str | None
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "video_id": video_id,
        "scraped_at": item.scraped_at or default_scraped_at,
        "views": item.play_count,
        "likes": item.digg_count,
        "shares": item.share_count,
        "comments": item.comment_count,
        "saves": item.collect_count,
        "author_followers": item.author_meta.fans,
        "run_id": run_id,
    }
