"""Engine benchmark: per-draft latency of the local pipeline and batch throughput.

Run: ``.venv/bin/python bench/engine.py [--drafts 2000] [--no-write]``.

Drafts are the real captions of ../shared/data/tiktok; the trend snapshot holds the most
used real sound titles and hashtags; LLM stages are the engine's in-process fakes (zero
delay), so the figures measure our own code, not a provider. Appends to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import Counter
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from common import DATA, append_section
from virtuna.engine.bundle import load_default_bundle
from virtuna.engine.llm.fakes import FakeContentAnalyzer, FakeReasoner, FakeSemanticEvaluator
from virtuna.engine.pipeline import Engine
from virtuna.engine.types import CreatorContext, HashtagTrend, SoundTrend, TrendPhase, TrendSnapshot
from virtuna.kit.jsonfiles import iter_records

NOW = datetime(2025, 6, 1, tzinfo=UTC)
PHASES = list(TrendPhase)


def load_items(limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for name in ("vphuhan-vn-creators", "thienphucle-vn-feed"):
        for _, item in islice(iter_records(DATA / name / "videos.jsonl.gz"), limit):
            if isinstance(item, dict) and str(item.get("text") or "").strip():
                items.append(item)
    return items[:limit]


def snapshot(items: list[dict[str, Any]]) -> TrendSnapshot:
    sounds = Counter(str((i.get("musicMeta") or {}).get("musicName") or "") for i in items)
    tags = Counter(str(h["name"]).lower() for i in items for h in i.get("hashtags") or [])
    return TrendSnapshot(
        as_of=NOW,
        window_days=30,
        total_videos=len(items),
        sounds=tuple(
            SoundTrend(
                sound_id=str(n),
                title=t,
                author=None,
                is_original=None,
                video_count=c,
                median_views=1e5,
                velocity=0.5,
                phase=PHASES[n % len(PHASES)],
            )
            for n, (t, c) in enumerate(sounds.most_common(200))
            if t
        ),
        hashtags=tuple(
            HashtagTrend(
                tag=t, video_count=c, median_views=1e5, velocity=0.3, phase=PHASES[n % len(PHASES)]
            )
            for n, (t, c) in enumerate(tags.most_common(500))
        ),
    )


def drafts(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "input_mode": "text",
            "content_text": str(i["text"])[:10_000],
            "creator_handle": str((i.get("authorMeta") or {}).get("name", "x"))[:24] or None,
        }
        for i in items
    ]


async def latencies(
    engine: Engine, batch: list[dict[str, Any]], trends: TrendSnapshot, creator: CreatorContext
) -> list[float]:
    out = []
    for draft in batch:
        start = time.perf_counter()
        await engine.analyze(draft, creator=creator, trends=trends, now=NOW)
        out.append((time.perf_counter() - start) * 1000)
    return out


async def throughput(
    engine: Engine, batch: list[dict[str, Any]], trends: TrendSnapshot, creator: CreatorContext
) -> float:
    start = time.perf_counter()
    await engine.analyze_many(batch, trends=trends, creators=[creator] * len(batch), now=NOW)
    return len(batch) / (time.perf_counter() - start)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


async def main(n: int, write: bool) -> None:
    items = load_items(n)
    batch, trends = drafts(items), snapshot(items)
    creator = CreatorContext(
        as_of=NOW,
        handle="bench",
        followers=50_000,
        prior_video_count=20,
        median_views=80_000.0,
        recent_median_views=90_000.0,
        posts_per_week=3.0,
    )
    bundle = load_default_bundle()
    local = Engine(predictor=bundle)
    faked = Engine(
        predictor=bundle,
        content_analyzer=FakeContentAnalyzer(),
        reasoner=FakeReasoner(),
        semantic_evaluator=FakeSemanticEvaluator(),
    )
    await latencies(local, batch[:50], trends, creator)  # warm-up (regex compile, model load)
    rows = []
    for label, engine in (
        ("local stages (rules, trends, creator, ML)", local),
        ("all stages, LLMs faked in-process", faked),
    ):
        lat = await latencies(engine, batch, trends, creator)
        rate = await throughput(engine, batch, trends, creator)
        rows.append(
            f"| {label} | {len(batch)} | {pct(lat, 50):.2f} | {pct(lat, 99):.2f} | {rate:,.0f} |"
        )
        print(rows[-1])
    body = (
        "Real captions from the shared data; trend snapshot of the 200 most used real sound "
        "titles and 500 hashtags; shipped model bundle. Targets: p99 ≤ 50 ms per draft for "
        "the local stages, ≥ 200 drafts/s in batch.\n\n"
        "| pipeline | drafts | p50 ms | p99 ms | batch drafts/s |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n\nCommand: `.venv/bin/python bench/engine.py`\n"
    )
    if write:
        append_section("Engine", body)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--drafts", type=int, default=2000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.drafts, not args.no_write))
