"""L4: a breaker opened in Redis holds across 4 worker processes running the real adapters
(google-genai and openai SDKs) and the real caller: while the provider keeps failing, the
fake server sees at most one probe per reset interval per provider, in total. Redis at
127.0.0.1:6379 is required (the test fails without it, it never skips)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.llm.fake_servers import FakeLLMServer
from virtuna.engine.llm.breaker import BreakerPolicy, Permit, RedisBreakerStore

REDIS_URL = "redis://127.0.0.1:6379/0"
ROOT = Path(__file__).resolve().parents[2]
WORKERS = 4
COOLDOWN = 1.0  # the reset interval
RUN_SECONDS = 4.5


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()  # type: ignore[misc]
    except (RedisConnectionError, OSError):
        await client.aclose()
        raise RuntimeError("Redis must run at 127.0.0.1:6379 (.ci/run starts it)") from None
    name = f"test:l4:{uuid.uuid4().hex}"
    yield name
    keys = [key async for key in client.scan_iter(f"{name}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def run_workers(base_url: str, prefix: str) -> list[dict[str, float]]:
    start_at = time.time() + 2.0  # interpreters and SDK imports first, then all race at once
    args = [base_url, REDIS_URL, prefix, str(start_at), str(RUN_SECONDS), str(COOLDOWN)]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.llm.breaker_worker",
            *args,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        for _ in range(WORKERS)
    ]
    outputs = [await asyncio.wait_for(p.communicate(), timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * WORKERS
    return [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]


def arrivals(server: FakeLLMServer, fragment: str) -> list[float]:
    return sorted(s.at for s in server.seen if fragment in s.path)


async def test_open_breaker_lets_one_probe_per_interval_across_four_processes(
    prefix: str,
) -> None:
    server = FakeLLMServer(mode="503")
    base_url = await server.start()
    policy = BreakerPolicy(failure_threshold=2, cooldown_seconds=COOLDOWN, probe_ttl_seconds=10)
    store = RedisBreakerStore(REDIS_URL, prefix=prefix)
    for provider in ("gemini", "deepseek"):  # open both breakers before the workers start
        for _ in range(policy.failure_threshold):
            await store.failure(provider, Permit(probe=False), policy)
    await store.aclose()
    try:
        results = await run_workers(base_url, prefix)
    finally:
        await server.close()
    failed = sum(r.get("failed", 0) for r in results)
    assert sum(r.get("ok", 0) for r in results) == 0
    assert failed > 100  # 4 processes x 8 callers kept asking the whole time
    # The window the workers really called in (a busy machine starts some of them late).
    window = max(r["ended"] for r in results) - min(r["began"] for r in results)
    for fragment in ("generateContent", "/chat/completions"):
        seen = arrivals(server, fragment)
        # the breaker did half-open (probes happened), but never two in one interval
        assert 1 <= len(seen) <= window / COOLDOWN + 1, (fragment, len(seen), window)
        gaps = [b - a for a, b in zip(seen, seen[1:], strict=False)]
        assert all(gap >= COOLDOWN - 0.05 for gap in gaps), (fragment, gaps)
