"""Ingest throughput on SQLite and PostgreSQL: the batched service vs row upserts in 50s.

    python bench/ingest.py [--rows 20000] [--baseline-rows 3000] [--no-append]

Items are real scraper records (all three shared sets), resampled with fresh ids when more
are asked for than exist. "rows/s" counts scraper items; each item writes a video, a stats
snapshot, its hashtag rows and a creator upsert. The baseline is the earlier system's
approach: one upsert statement per row, committed every 50 items.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import AsyncSession

from common import DATA, append_section
from virtuna.config import Settings
from virtuna.kit import migrate
from virtuna.kit.db import create_engine, create_session_factory, unit_of_work
from virtuna.kit.jsonfiles import iter_records
from virtuna.videos import repository
from virtuna.videos.schemas import ScraperItem
from virtuna.videos.service import (
    BATCH_SIZE,
    _creator_rows,
    _stats_row,
    _video_row,
    ingest_batch,
    validate_items,
)

PG_ADMIN = os.environ.get("VIRTUNA_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
WHEN = datetime(2025, 7, 1, tzinfo=UTC)
SETS = ("vphuhan-vn-creators", "thienphucle-vn-feed", "datares-creators-2020")


def load_items(n: int) -> list[ScraperItem]:
    base: list[ScraperItem] = []
    for name in SETS:
        for _, item in validate_items(iter_records(DATA / name / "videos.jsonl.gz")):
            if isinstance(item, ScraperItem):
                base.append(item)
    out = list(islice(base, n))
    copy = 1
    while len(out) < n:  # resample with fresh ids: same shapes, new keys
        for item in base[: n - len(out)]:
            out.append(item.model_copy(update={"id": f"{copy}{item.id}"[:25]}))
        copy += 1
    return out


def fresh_database(backend: str, tag: str) -> str:
    if backend == "sqlite":
        path = f"/tmp/virtuna-bench-ingest-{tag}-{uuid.uuid4().hex[:6]}.db"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        name = f"virtuna_bench_{tag}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        url = f"{url}/{name}"
    migrate.upgrade(url)
    return url


def drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    else:
        path = url.split(":///", 1)[1]
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)


async def current(url: str, items: list[ScraperItem]) -> float:
    engine = create_engine(Settings(VIRTUNA_DATABASE_URL=url, _env_file=None))
    sessions = create_session_factory(engine)
    started = time.perf_counter()
    for start in range(0, len(items), BATCH_SIZE):
        async with unit_of_work(sessions) as session:
            await ingest_batch(
                session, items[start : start + BATCH_SIZE], source="bench", default_scraped_at=WHEN
            )
    elapsed = time.perf_counter() - started
    await engine.dispose()
    return len(items) / elapsed


async def _one_by_one(session: AsyncSession, item: ScraperItem) -> None:
    # One statement per row, as the earlier system's per-row upserts did.
    for creator in _creator_rows([item], WHEN):
        await repository.upsert_creators(session, [creator])
    when = item.scraped_at or WHEN
    await repository.upsert_videos(session, [_video_row(item, "bench", when, when)])
    ids = await repository.existing_video_ids(session, [item.id])
    for tag in item.tag_names():
        await repository.insert_hashtags(
            session, [{"video_id": ids[item.id], "tag": tag, "posted_at": item.create_time}]
        )
    await repository.insert_stats(session, [_stats_row(item, ids[item.id], WHEN, None)])


async def baseline(url: str, items: list[ScraperItem]) -> float:
    engine = create_engine(Settings(VIRTUNA_DATABASE_URL=url, _env_file=None))
    sessions = create_session_factory(engine)
    started = time.perf_counter()
    for start in range(0, len(items), 50):
        async with unit_of_work(sessions) as session:
            for item in items[start : start + 50]:
                await _one_by_one(session, item)
    elapsed = time.perf_counter() - started
    await engine.dispose()
    return len(items) / elapsed


def measure(backend: str, items: list[ScraperItem], baseline_items: list[ScraperItem]) -> Any:
    results = {}
    for label, fn, data in (
        ("batched", current, items),
        ("row upserts /50", baseline, baseline_items),
    ):
        url = fresh_database(backend, label[:3])
        try:
            results[label] = asyncio.run(fn(url, data))
            if label == "batched":  # re-ingest: everything already there
                results["re-ingest (no changes)"] = asyncio.run(fn(url, data))
        finally:
            drop_database(url)
        print(f"{backend:10s} {label:24s} {results[label]:10,.0f} rows/s")
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--baseline-rows", type=int, default=3_000)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    items = load_items(args.rows)
    lines = [
        f"{args.rows:,} real scraper items (batched) and {args.baseline_rows:,} (baseline); "
        "an item = video + stats snapshot + hashtags + creator upsert.",
        "",
        "| backend | batched rows/s | re-ingest rows/s | row upserts in 50s rows/s | ratio |",
        "|---|---|---|---|---|",
    ]
    for backend in ("sqlite", "postgresql"):
        r = measure(backend, items, items[: args.baseline_rows])
        ratio = r["batched"] / r["row upserts /50"]
        lines.append(
            f"| {backend} | {r['batched']:,.0f} | {r['re-ingest (no changes)']:,.0f} | "
            f"{r['row upserts /50']:,.0f} | {ratio:.1f}x |"
        )
    lines += ["", "Target: ≥ 20,000 rows/s on PostgreSQL. Command: `python bench/ingest.py`."]
    print("\n".join(lines))
    if not args.no_append:
        append_section("Ingest", "\n".join(lines))


if __name__ == "__main__":
    main()
