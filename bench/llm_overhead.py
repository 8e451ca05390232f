"""The service's own overhead around LLM calls: end-to-end ``POST /api/analyze`` latency
minus the time the fake providers spend answering, at concurrency 1, 10 and 100.

    python bench/llm_overhead.py [--delay 0.5] [--requests 300] [--no-write]

One worker: the app runs in this process's event loop and is called through
``httpx.ASGITransport`` (no uvicorn, no TCP to the app; the engine still reaches the fake
Gemini and DeepSeek servers over loopback HTTP through the real SDKs). The fake servers run
in a thread with their own event loop and answer every request after ``--delay`` seconds.
The analysis's LLM critical path is two calls in sequence (content, then the reasoner, which
reads the content analysis; the semantic-rules call runs beside them), so

    overhead = end-to-end latency - 2 x delay

covers authentication, quota, the database reads and writes (SQLite, the default), the
engine's local stages, the SDKs' request building and parsing, and serialisation.
Target: overhead p99 <= 50 ms at concurrency 100.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Coroutine
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.llm.fake_servers import FakeLLMServer

from common import append_section
from virtuna.api.app import create_app
from virtuna.config import Environment, Settings
from virtuna.kit import migrate
from virtuna.kit.db import create_engine, create_session_factory, unit_of_work
from virtuna.users import service as users

DRAFT = {
    "input_mode": "text",
    "content_type": "video",
    "content_text": "3 mistakes everyone makes with retinol, number 2 ruins your skin barrier "
    "#skincare #skintok",
    "niche": "beauty",
}
LEVELS = (1, 10, 100)
T = TypeVar("T")
CALLS_ON_CRITICAL_PATH = 2


def _serve_fakes(delay: float, conn: Connection) -> None:
    """Child process: both fakes on one event loop until the parent says stop."""

    async def main() -> None:
        gemini, deepseek = FakeLLMServer(delay=delay), FakeLLMServer(delay=delay)
        conn.send((await gemini.start(), await deepseek.start()))
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await gemini.close()
        await deepseek.close()

    asyncio.run(main())


class FakeProvidersProcess:
    """The same fakes in a process of their own: a real provider's work is not on the
    service's CPU, so this measures only the service (and the bench's client)."""

    def __init__(self, delay: float) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve_fakes, args=(delay, child), daemon=True)

    def __enter__(self) -> tuple[str, str]:
        self.process.start()
        gemini, deepseek = self.conn.recv()
        return str(gemini), str(deepseek)

    def __exit__(self, *_: object) -> None:
        self.conn.send("stop")
        self.process.join(timeout=10)


class FakeProviders:
    """Gemini and DeepSeek fakes in a thread of their own, answering after ``delay``."""

    def __init__(self, delay: float) -> None:
        self.gemini = FakeLLMServer(delay=delay)
        self.deepseek = FakeLLMServer(delay=delay)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> tuple[str, str]:
        self.thread.start()
        return self._run(self.gemini.start()), self._run(self.deepseek.start())

    def __exit__(self, *_: object) -> None:
        self._run(self.gemini.close())
        self._run(self.deepseek.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)


def settings_for(data_dir: Path, gemini: str, deepseek: str) -> Settings:
    return Settings.model_validate(
        {
            "VIRTUNA_ENV": Environment.TEST,
            "VIRTUNA_DATA_DIR": data_dir,
            "VIRTUNA_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'bench.db'}",
            "VIRTUNA_AUTO_MIGRATE": False,
            "LOG_LEVEL": "WARNING",
            "VIRTUNA_PLAN_RATE_LIMITS": "free:unlimited,starter:unlimited,pro:unlimited",
            "GEMINI_API_KEY": "bench-gemini",
            "GEMINI_BASE_URL": gemini,
            "DEEPSEEK_API_KEY": "bench-deepseek",
            "DEEPSEEK_BASE_URL": deepseek,
            "_env_file": None,
        }
    )


async def make_key(settings: Settings) -> str:
    engine = create_engine(settings)
    try:
        async with unit_of_work(create_session_factory(engine)) as session:
            email = f"bench{uuid.uuid4().hex[:8]}@example.com"
            return (await users.create_user(session, email=email, plan="pro")).api_key
    finally:
        await engine.dispose()


async def level(client: httpx.AsyncClient, key: str, concurrency: int, total: int) -> list[float]:
    """Latencies (s) of ``total`` requests with ``concurrency`` in flight (closed loop)."""
    gate = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {key}"}

    async def one() -> float:
        async with gate:
            started = time.perf_counter()
            response = await client.post("/api/analyze", json=DRAFT, headers=headers)
            took = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
        if not response.json()["signals"]["llm_content"]["available"]:
            raise RuntimeError("the content LLM did not answer: the figure would be wrong")
        return took

    return list(await asyncio.gather(*(one() for _ in range(total))))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def measure(
    delay: float, requests: int, *, separate: bool
) -> list[tuple[int, int, list[float]]]:
    rows: list[tuple[int, int, list[float]]] = []
    fakes = FakeProvidersProcess(delay) if separate else FakeProviders(delay)
    with tempfile.TemporaryDirectory() as tmp, fakes as (gemini, deepseek):
        settings = settings_for(Path(tmp), gemini, deepseek)
        migrate.upgrade(settings.resolved_database_url)
        key = await make_key(settings)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://bench", timeout=120
            ) as client:
                await level(client, key, 1, 3)  # warm-up: imports, model load, pools
                for concurrency in LEVELS:
                    total = max(requests, concurrency) if concurrency > 1 else requests // 3
                    latencies = await level(client, key, concurrency, total)
                    overhead = [t - CALLS_ON_CRITICAL_PATH * delay for t in latencies]
                    rows.append((concurrency, total, overhead))
                    print(f"concurrency {concurrency:>3}: {summary(overhead)}", flush=True)
    return rows


def summary(overhead: list[float]) -> str:
    ms = [o * 1000 for o in overhead]
    return (
        f"overhead p50 {percentile(ms, 50):.1f} ms, p95 {percentile(ms, 95):.1f} ms, "
        f"p99 {percentile(ms, 99):.1f} ms, max {max(ms):.1f} ms, mean {statistics.mean(ms):.1f} ms"
    )


def report(
    rows: list[tuple[int, int, list[float]]], delay: float, requests: int, *, separate: bool
) -> str:
    where = "in a process of their own" if separate else "in a thread of the bench's process"
    flag = " --providers-process" if separate else ""
    lines = [
        f"`python bench/llm_overhead.py --delay {delay:g} --requests {requests}{flag}`: one "
        "worker (the app in-process through `httpx.ASGITransport`, SQLite), fake Gemini and "
        f"DeepSeek {where} over loopback HTTP through the real SDKs, each answering after "
        f"{delay:g} s. "
        f"Overhead = end-to-end latency - {CALLS_ON_CRITICAL_PATH} x {delay:g} s (content, "
        "then reasoning, in sequence; semantic rules beside them). Target: p99 <= 50 ms at "
        "concurrency 100.",
        "",
        "| concurrency | requests | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|",
    ]
    for concurrency, total, overhead in rows:
        ms = [o * 1000 for o in overhead]
        lines.append(
            f"| {concurrency} | {total} | {percentile(ms, 50):.1f} | {percentile(ms, 95):.1f} "
            f"| {percentile(ms, 99):.1f} | {max(ms):.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay", type=float, default=0.5, help="fake provider delay, s")
    parser.add_argument("--requests", type=int, default=300, help="requests per level")
    parser.add_argument("--no-write", action="store_true", help="don't update BENCHMARKS.md")
    parser.add_argument(
        "--providers-process",
        action="store_true",
        help="run the fake providers in their own process (their CPU is not the service's)",
    )
    args = parser.parse_args()
    separate = args.providers_process
    rows = asyncio.run(measure(args.delay, args.requests, separate=separate))
    body = report(rows, args.delay, args.requests, separate=separate)
    print(body)
    if not args.no_write:
        append_section("LLM overhead", body)


if __name__ == "__main__":
    main()
