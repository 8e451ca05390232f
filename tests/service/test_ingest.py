"""Ingest of the real scraper-format data: round trip, idempotency, item-level rejection."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.kit.jsonfiles import JSONFileError, iter_records
from virtuna.models import Creator, Video, VideoHashtag, VideoStats
from virtuna.videos.schemas import ScraperItem
from virtuna.videos.service import ingest_batch, sound_identity, validate_items

SOURCES = ["vphuhan-vn-creators", "thienphucle-vn-feed", "datares-creators-2020"]
WHEN = datetime(2025, 6, 1, tzinfo=UTC)


def _items(path: Path, n: int) -> list[ScraperItem]:
    out = [item for _, item in islice(validate_items(iter_records(path)), n)]
    assert all(isinstance(i, ScraperItem) for i in out)
    return [i for i in out if isinstance(i, ScraperItem)]


async def _count(session: AsyncSession, model: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize("source", SOURCES)
async def test_real_files_round_trip_and_reingest_is_idempotent(
    session: AsyncSession, tiktok_data_dir: Path, source: str
) -> None:
    items = _items(tiktok_data_dir / source / "videos.jsonl.gz", 400)
    first = await ingest_batch(session, items, source=source, default_scraped_at=WHEN)
    assert first.new == len({i.id for i in items})
    assert first.rejected == 0
    counts = [await _count(session, m) for m in (Video, VideoStats, Creator, VideoHashtag)]
    again = await ingest_batch(session, items, source=source, default_scraped_at=WHEN)
    assert (again.new, again.updated, again.snapshots) == (0, 0, 0)
    assert again.unchanged == first.new
    assert [await _count(session, m) for m in (Video, VideoStats, Creator, VideoHashtag)] == counts
    stored = await session.scalar(select(Video).where(Video.tiktok_id == items[0].id))
    assert stored is not None
    assert stored.caption == items[0].text
    assert stored.hashtags == items[0].tag_names()
    assert all("#" not in tag for tag in stored.hashtags)


async def test_a_later_scrape_adds_a_snapshot(session: AsyncSession, tiktok_data_dir: Path) -> None:
    items = _items(tiktok_data_dir / SOURCES[2] / "videos.jsonl.gz", 50)
    await ingest_batch(session, items, source="a", default_scraped_at=WHEN)
    later = [i.model_copy(update={"play_count": i.play_count + 10}) for i in items]
    report = await ingest_batch(
        session, later, source="a", default_scraped_at=datetime(2025, 7, 1, tzinfo=UTC)
    )
    assert report.updated == len({i.id for i in items})
    assert report.new == 0
    assert await _count(session, VideoStats) == 2 * report.updated


async def test_the_latest_stats_on_the_video_follow_scrape_time_not_ingest_order(
    session: AsyncSession, tiktok_data_dir: Path
) -> None:
    (item,) = _items(tiktok_data_dir / SOURCES[2] / "videos.jsonl.gz", 1)
    early, late = datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 6, 9, tzinfo=UTC)
    newer = item.model_copy(update={"play_count": 900, "scraped_at": late})
    older = item.model_copy(update={"play_count": 100, "scraped_at": early})
    middle = item.model_copy(
        update={"play_count": 500, "scraped_at": datetime(2025, 6, 5, tzinfo=UTC)}
    )
    await ingest_batch(session, [newer], source="a", default_scraped_at=WHEN)
    await ingest_batch(session, [older, middle], source="a", default_scraped_at=WHEN)
    video = await session.scalar(select(Video).where(Video.tiktok_id == item.id))
    assert video is not None
    await session.refresh(video)
    assert (video.first_scraped_at, video.latest_scraped_at, video.latest_views) == (
        early,
        late,
        900,
    )
    music = item.music_meta
    assert music is not None
    assert video.sound_key == sound_identity(music.music_id, music.music_name, music.music_author)


def test_bad_items_are_rejected_with_reasons(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl.gz"
    good = {
        "id": "7380030792988216592",
        "text": "hi #Food",
        "createTimeISO": "2024-06-13T16:48:45Z",
        "authorMeta": {"name": "@Chef"},
        "hashtags": [{"name": "Food"}],
        "playCount": 5,
    }
    lines = [
        json.dumps(good),
        "{broken",
        json.dumps({**good, "id": "x"}),
        json.dumps([1]),
        json.dumps({**good, "playCount": -1}),
    ]
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines))
    results = list(validate_items(iter_records(path)))
    assert isinstance(results[0][1], ScraperItem)
    assert results[0][1].author_meta.name == "chef"
    reasons = [r for _, r in results[1:]]
    assert all(isinstance(r, str) for r in reasons)
    assert "invalid JSON" in str(reasons[0])
    assert str(reasons[1]).startswith("id:")
    assert "expected an object" in str(reasons[2])
    assert str(reasons[3]).startswith("playCount")


def test_unreadable_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "array.json"
    path.write_text('[{"id": "1"},')
    with pytest.raises(JSONFileError, match="array.json"):
        list(iter_records(path))
