"""P1 soak: N users scoring text drafts against fake LLMs with 2 s latency; server RSS.

    python bench/soak.py [--users 30] [--seconds 120] [--warmup 30] [--delay 2.0]
                         [--backend sqlite|postgresql] [--no-write]

`virtuna serve` runs in its own process on 127.0.0.1 with Gemini and DeepSeek pointed at
fake servers in this process (their real wire formats, every call answered after
``--delay`` seconds). Each virtual user (own API key) loops: POST /api/analyze with a
varied draft, then waits 1 s (a locust-style user). The server's resident memory is read
from /proc every 2 s; growth is measured from the end of the warm-up to the end.
Target (RELIABILITY_GOALS P1, 30 users for 10 min): 0 % errors, RSS growth < 50 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.llm.fake_servers import FakeLLMServer

from common import append_section
from serving import free_port, pg_database, rss_kib, wait_ready
from virtuna.config import Settings
from virtuna.kit import migrate
from virtuna.kit.db import create_engine, create_session_factory, unit_of_work
from virtuna.users import service as users

HOOKS = ("POV:", "Wait for it:", "Nobody talks about this:", "3 tips for", "Day 12 of")
TOPICS = ("cooking pasta", "budget travel", "gym form", "study hacks", "skincare", "coding")


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    rss: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, KiB)


def _draft(user: int, i: int) -> dict[str, str]:
    text = f"{HOOKS[i % len(HOOKS)]} {TOPICS[(user + i) % len(TOPICS)]} #{user}x{i} #fyp"
    return {"input_mode": "text", "content_text": text}


async def _user(client: httpx.AsyncClient, key: str, n: int, until: float, tally: Tally) -> None:
    i = 0
    while time.monotonic() < until:
        t0 = time.perf_counter()
        try:
            response = await client.post(
                "/api/analyze", json=_draft(n, i), headers={"Authorization": f"Bearer {key}"}
            )
            code = response.status_code
        except httpx.HTTPError:
            code = 0
        tally.latencies.append((time.perf_counter() - t0) * 1000)
        tally.statuses[code] = tally.statuses.get(code, 0) + 1
        i += 1
        await asyncio.sleep(1.0)


async def _sample(pid: int, start: float, until: float, tally: Tally) -> None:
    while time.monotonic() < until:
        tally.rss.append((time.monotonic() - start, rss_kib(pid)))
        await asyncio.sleep(2.0)


async def _keys(url: str, data_dir: Path, count: int) -> list[str]:
    settings = Settings.model_validate(
        {"VIRTUNA_DATABASE_URL": url, "VIRTUNA_DATA_DIR": data_dir, "_env_file": None}
    )
    engine = create_engine(settings)
    try:
        async with unit_of_work(create_session_factory(engine)) as session:
            return [
                (await users.create_user(session, email=f"soak{i}@example.com")).api_key
                for i in range(count)
            ]
    finally:
        await engine.dispose()


def _serve(url: str, data_dir: Path, port: int, llm: tuple[str, str]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "VIRTUNA_DATABASE_URL": url,
        "VIRTUNA_DATA_DIR": str(data_dir),
        "GEMINI_API_KEY": "soak-gemini",
        "GEMINI_BASE_URL": llm[0],
        "DEEPSEEK_API_KEY": "soak-deepseek",
        "DEEPSEEK_BASE_URL": llm[1],
        "VIRTUNA_PLAN_DAILY_QUOTAS": "free:-1,starter:-1,pro:-1",
        "VIRTUNA_PLAN_RATE_LIMITS": "free:unlimited,starter:unlimited,pro:unlimited",
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "json",
    }
    cmd = [sys.executable, "-m", "virtuna", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _soak(args: argparse.Namespace, url: str, data_dir: Path) -> tuple[Tally, int]:
    migrate.upgrade(url)
    keys = await _keys(url, data_dir, args.users)
    gemini, deepseek = FakeLLMServer(delay=args.delay), FakeLLMServer(delay=args.delay)
    llm = (await gemini.start(), await deepseek.start())
    port = free_port()
    server = _serve(url, data_dir, port, llm)
    tally = Tally()
    try:
        base = f"http://127.0.0.1:{port}"
        await asyncio.to_thread(wait_ready, base)
        start = time.monotonic()
        until = start + args.seconds
        limits = httpx.Limits(max_connections=args.users + 10)
        async with httpx.AsyncClient(base_url=base, timeout=60.0, limits=limits) as client:
            await asyncio.gather(
                _sample(server.pid, start, until, tally),
                *(_user(client, key, n, until, tally) for n, key in enumerate(keys)),
            )
        calls = len(gemini.seen) + len(deepseek.seen)
    finally:
        server.terminate()
        server.wait(timeout=30)
        await gemini.close()
        await deepseek.close()
    return tally, calls


def _summary(args: argparse.Namespace, tally: Tally, calls: int) -> tuple[str, dict[str, float]]:
    after_warmup = [kib for t, kib in tally.rss if t >= args.warmup] or [tally.rss[-1][1]]
    total = len(tally.latencies)
    errors = total - tally.statuses.get(200, 0)
    q = statistics.quantiles(tally.latencies, n=100, method="inclusive")
    figures = {
        "requests": total,
        "error_pct": 100.0 * errors / max(total, 1),
        "p50": statistics.median(tally.latencies),
        "p95": q[94],
        "p99": q[98],
        "rss_warm_mb": after_warmup[0] / 1024,
        "rss_end_mb": after_warmup[-1] / 1024,
        "rss_peak_mb": max(kib for _, kib in tally.rss) / 1024,
        "llm_calls": calls,
    }
    figures["growth_mb"] = figures["rss_end_mb"] - figures["rss_warm_mb"]
    row = (
        f"| {args.backend} | {args.users} | {args.seconds:g} s (warm-up {args.warmup:g} s) | "
        f"{total} | {tally.statuses} | {figures['error_pct']:.2f} % | {figures['p50']:.0f} | "
        f"{figures['p95']:.0f} | {figures['p99']:.0f} | {figures['rss_warm_mb']:.1f} | "
        f"{figures['rss_end_mb']:.1f} | {figures['growth_mb']:+.1f} | "
        f"{figures['rss_peak_mb']:.1f} |"
    )
    return row, figures


HEADER = (
    "| backend | users | duration | requests | statuses | errors | p50 ms | p95 ms | p99 ms "
    "| RSS after warm-up MB | RSS end MB | growth MB | peak MB |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--warmup", type=float, default=30.0)
    parser.add_argument("--delay", type=float, default=2.0)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, pg_database(args.backend) as pg_url:
        url = pg_url or f"sqlite+aiosqlite:///{Path(tmp) / 'soak.db'}"
        tally, calls = asyncio.run(_soak(args, url, Path(tmp)))
    row, figures = _summary(args, tally, calls)
    load = os.getloadavg()
    print(HEADER)
    print(row)
    print(f"fake LLM calls answered: {calls}; load average {load[0]:.1f}/{load[1]:.1f}")
    if not args.no_write:
        append_section(
            "P1 soak (text scoring, fake LLMs)",
            f"`virtuna serve` (1 process, embedded worker) on 127.0.0.1; {args.users} users, "
            f"each POST /api/analyze then 1 s pause; Gemini and DeepSeek are local fakes "
            f"answering every call after {args.delay:g} s ({calls} calls answered). RSS of the "
            "server process from /proc every 2 s. P1 asks for 30 users for 10 min; this is "
            f"a shortened {args.seconds:g} s run. Target: 0 % errors, growth < 50 MB.\n\n"
            f"{HEADER}\n{row}\n\n"
            f"Load average after the run (1/5/15 min): {load[0]:.1f} / {load[1]:.1f} / "
            f"{load[2]:.1f} on a machine shared with other work.\n\n"
            f"Command: `.venv/bin/python bench/soak.py --users {args.users} "
            f"--seconds {args.seconds:g} --warmup {args.warmup:g}`",
        )


if __name__ == "__main__":
    main()
