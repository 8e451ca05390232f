"""D2: concurrent ingesters of overlapping batches on PostgreSQL — no deadlock, no lost row."""

from __future__ import annotations

import asyncio
import gzip
import json
import random
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from virtuna.config import Settings
from virtuna.kit.db import create_engine, create_session_factory, unit_of_work
from virtuna.models import Creator, Video, VideoStats
from virtuna.videos.schemas import ScraperItem
from virtuna.videos.service import ingest_batch

WORKERS = 8
BASE = datetime(2025, 7, 1, tzinfo=UTC)


@pytest.mark.postgres
async def test_eight_concurrent_ingesters_of_overlapping_batches(
    test_settings: Settings, database_url: str, tiktok_data_dir: Path
) -> None:
    # D2 is a PostgreSQL row-locking property; on SQLite the same run proves that
    # BEGIN IMMEDIATE serialises the writers without "database is locked" or lost rows.
    path = tiktok_data_dir / "datares-creators-2020" / "videos.jsonl.gz"
    with gzip.open(path, "rt") as handle:
        raw = [json.loads(line) for line in islice(handle, 1500)]
    engine = create_engine(test_settings.model_copy(update={"db_pool_size": WORKERS}))
    sessions = create_session_factory(engine)
    source = "d2-concurrency"

    async def ingester(worker: int) -> int:
        rng = random.Random(worker)
        chosen = rng.sample(raw, 1000)  # overlapping subsets, each in its own order
        # Each worker scrapes at its own time with its own follower counts: the latest
        # scrape must win on creators whatever order the transactions commit in.
        items = [
            ScraperItem.model_validate(
                {**r, "authorMeta": {**r["authorMeta"], "fans": 1000 + worker}}
            )
            for r in chosen
        ]
        for start in range(0, len(items), 100):
            async with unit_of_work(sessions) as session:
                await ingest_batch(
                    session,
                    items[start : start + 100],
                    source=source,
                    default_scraped_at=BASE + timedelta(hours=worker),
                )
        return len(items)

    try:
        await asyncio.gather(*(ingester(w) for w in range(WORKERS)))  # any error fails here
        expected_pairs, last_seen = set(), {}
        for worker in range(WORKERS):
            for r in random.Random(worker).sample(raw, 1000):
                expected_pairs.add((r["id"], worker))
                last_seen[r["authorMeta"]["name"]] = 1000 + worker
        async with sessions() as session:
            videos = await session.scalar(
                select(func.count()).select_from(Video).where(Video.source == source)
            )
            stats = await session.scalar(
                select(func.count())
                .select_from(VideoStats)
                .join(Video, Video.id == VideoStats.video_id)
                .where(Video.source == source)
            )
            result = await session.execute(
                select(Creator.handle, Creator.followers).where(Creator.handle.in_(list(last_seen)))
            )
            followers = dict(result.tuples().all())
        assert videos == len({r["id"] for r in raw})
        assert stats == len(expected_pairs)
        # Monotone: each creator keeps the followers of its latest scrape, whatever order the
        # transactions committed in.
        assert followers == last_seen
    finally:
        async with unit_of_work(sessions) as session:
            await session.execute(delete(Video).where(Video.source == source))
            await session.execute(
                delete(Creator).where(Creator.handle.in_({r["authorMeta"]["name"] for r in raw}))
            )
        await engine.dispose()
