"""calculate-trends over 100K / 1M stats snapshot rows vs a naive Python recompute.

    python bench/trends.py [--sizes 100000,1000000] [--sqlite-max 100000] [--no-append]

Data: real scraper items (hashtags, sounds, views) resampled into videos created over the
200 days before ``AS_OF``, two stats snapshots each (so N snapshot rows = N/2 videos),
bulk-loaded straight into the tables (COPY on PostgreSQL). The baseline is the earlier
system's way: read the raw rows and recompute every aggregate in Python.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import sqlite3
import statistics
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import select

from common import DATA, append_section
from virtuna.config import Settings
from virtuna.kit import migrate
from virtuna.kit.db import create_engine, create_session_factory, unit_of_work
from virtuna.kit.jsonfiles import iter_records
from virtuna.models import Video, VideoStats
from virtuna.trends.calculate import SERIES_BUCKETS, calculate_trends
from virtuna.videos.service import sound_identity

PG_ADMIN = os.environ.get("VIRTUNA_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
AS_OF = datetime(2025, 7, 1, tzinfo=UTC)
WINDOWS = [1, 7, 30]
SETS = ("vphuhan-vn-creators", "thienphucle-vn-feed", "datares-creators-2020")


def pool() -> list[dict[str, Any]]:
    out = []
    for name in SETS:
        for _, raw in iter_records(DATA / name / "videos.jsonl.gz"):
            music = raw.get("musicMeta") or {}
            out.append(
                {
                    "tags": [t["name"].lower() for t in raw.get("hashtags", []) if t.get("name")],
                    "sound": (
                        music.get("musicId"),
                        (music.get("musicName") or None) and music["musicName"][:500],
                        (music.get("musicAuthor") or None) and music["musicAuthor"][:500],
                        music.get("musicOriginal"),
                    ),
                    "views": int(raw.get("playCount") or 0),
                }
            )
    return out


def generate(n_stats: int, base: list[dict[str, Any]]) -> tuple[list[Any], list[Any], list[Any]]:
    rng = random.Random(n_stats)
    videos: list[Any] = []
    tags: list[Any] = []
    stats: list[Any] = []
    for n in range(n_stats // 2):
        src = rng.choice(base)
        vid = uuid.UUID(int=rng.getrandbits(128))
        posted = AS_OF - timedelta(seconds=rng.uniform(3600, 200 * 86400))
        sid, title, author, original = src["sound"]
        first, second = posted + timedelta(minutes=1), min(posted + timedelta(days=5), AS_OF)
        # The columns ingest maintains: sound key, first/latest scrape, latest views.
        videos.append((vid, str(10**18 + n), "bench", "", json.dumps(src["tags"]), sid, title,
                       author, original, posted, "bench", AS_OF, sound_identity(sid, title, author),
                       first, second, src["views"]))  # fmt: skip
        tags.extend((vid, t, posted) for t in dict.fromkeys(src["tags"]))
        stats.append((uuid.uuid4(), vid, first, src["views"] // 3))
        stats.append((uuid.uuid4(), vid, second, src["views"]))
    return videos, tags, stats


VIDEO_COLS = "id, tiktok_id, author_handle, caption, hashtags, sound_id, sound_title, sound_author, sound_original, posted_at, source, first_seen_at, sound_key, first_scraped_at, latest_scraped_at, latest_views"  # noqa: E501


def load_pg(url: str, data: tuple[list[Any], list[Any], list[Any]]) -> None:
    videos, tags, stats = data
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        for table, cols, rows in (
            ("videos", VIDEO_COLS, videos),
            ("video_hashtags", "video_id, tag, posted_at", tags),
            ("video_stats", "id, video_id, scraped_at, views", stats),
        ):
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    # Steady state, as autovacuum leaves a live table: statistics, visibility map and hint
    # bits set. Without it the first query after a bulk load also writes every page it
    # reads (measured: ~2 s of the 1M-row figure), which is the load's cost, not the job's.
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        return (
            value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        )
    return value


def load_sqlite(url: str, data: tuple[list[Any], list[Any], list[Any]]) -> None:
    videos, tags, stats = data
    conn = sqlite3.connect(url.split(":///", 1)[1])
    for table, cols, rows in (
        ("videos", VIDEO_COLS, videos),
        ("video_hashtags", "video_id, tag, posted_at", tags),
        ("video_stats", "id, video_id, scraped_at, views", stats),
    ):
        marks = ", ".join("?" * len(cols.split(",")))
        conn.executemany(
            f"INSERT INTO {table} ({cols}) VALUES ({marks})",
            ([_sqlite_value(v) for v in row] for row in rows),
        )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


async def run_service(url: str) -> float:
    engine = create_engine(Settings(VIRTUNA_DATABASE_URL=url, _env_file=None))
    started = time.perf_counter()
    async with unit_of_work(create_session_factory(engine)) as session:
        result = await calculate_trends(session, windows=WINDOWS, top_n=500, as_of=AS_OF)
    elapsed = time.perf_counter() - started
    await engine.dispose()
    assert result.created
    return elapsed


async def run_naive(url: str) -> float:
    """Fetch every raw row, recompute series, sums and medians per key in Python."""
    engine = create_engine(Settings(VIRTUNA_DATABASE_URL=url, _env_file=None))
    started = time.perf_counter()
    async with create_session_factory(engine)() as session:
        latest: dict[Any, tuple[datetime, int]] = {}
        for vid, at, views in (
            await session.execute(
                select(VideoStats.video_id, VideoStats.scraped_at, VideoStats.views)
            )
        ).tuples():
            if at <= AS_OF and (vid not in latest or at > latest[vid][0]):
                latest[vid] = (at, views)
        videos = (
            (
                await session.execute(
                    select(
                        Video.id,
                        Video.posted_at,
                        Video.hashtags,
                        Video.sound_id,
                        Video.sound_title,
                        Video.sound_author,
                    )  # fmt: skip
                )
            )
            .tuples()
            .all()
        )
    for window in WINDOWS:
        width = timedelta(days=window)
        series: dict[str, list[int]] = defaultdict(lambda: [0] * SERIES_BUCKETS)
        current: dict[str, list[int]] = defaultdict(list)
        for vid, posted, tags, sid, title, author in videos:
            if vid not in latest or not AS_OF - width * SERIES_BUCKETS <= posted < AS_OF:
                continue
            bucket = min(int((AS_OF - posted) / width), SERIES_BUCKETS - 1)
            keys = [f"#{t}" for t in tags] + [k for k in [sound_identity(sid, title, author)] if k]
            for key in keys:
                series[key][SERIES_BUCKETS - 1 - bucket] += 1
                if bucket == 0:
                    current[key].append(latest[vid][1])
        {k: statistics.median(v) for k, v in current.items()}
    elapsed = time.perf_counter() - started
    await engine.dispose()
    return elapsed


def fresh(backend: str) -> str:
    tag = uuid.uuid4().hex[:6]
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:////tmp/virtuna-bench-trends-{tag}.db"
    else:
        name = f"virtuna_bench_trends_{tag}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        url = f"{base}/{name}"
    migrate.upgrade(url)
    return url


def drop(url: str) -> None:
    if url.startswith("postgresql"):
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    else:
        for suffix in ("", "-wal", "-shm"):
            path = url.split(":///", 1)[1] + suffix
            if os.path.exists(path):
                os.remove(path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--sqlite-max", type=int, default=100_000)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    base = pool()
    lines = [
        f"Snapshot rows resampled from {len(base):,} real items, 2 per video over 200 days; "
        f"windows {WINDOWS} days x {SERIES_BUCKETS} buckets, top 500 per kind and window.",
        "",
        "| backend | snapshot rows | calculate-trends | naive Python recompute | ratio |",
        "|---|---|---|---|---|",
    ]
    for size in (int(s) for s in args.sizes.split(",")):
        data = generate(size, base)
        for backend in ("postgresql", "sqlite"):
            if backend == "sqlite" and size > args.sqlite_max:
                continue
            url = fresh(backend)
            try:
                (load_pg if backend == "postgresql" else load_sqlite)(url, data)
                # The generated rows stay alive for the next backend: keep the collector
                # from walking millions of them during the timed runs (a job process
                # holds no such heap).
                gc.collect()
                gc.freeze()
                ours = asyncio.run(run_service(url))
                naive = asyncio.run(run_naive(url))
            finally:
                drop(url)
            row = f"| {backend} | {size:,} | {ours:.2f} s | {naive:.2f} s | {naive / ours:.1f}x |"
            print(row, flush=True)
            lines.append(row)
    lines += ["", "Target: ≤ 1 s over 1M rows. Command: `python bench/trends.py`."]
    print("\n".join(lines))
    if not args.no_append:
        append_section("Trends", "\n".join(lines))


if __name__ == "__main__":
    main()
