"""Breaker state shared through Redis across processes (L4) and its fallback when Redis is
down (L7)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from virtuna.engine.llm.breaker import BreakerPolicy, LocalBreakerStore, Permit, RedisBreakerStore

REDIS_URL = "redis://127.0.0.1:6379/0"
POLICY = BreakerPolicy(failure_threshold=3, cooldown_seconds=30, probe_ttl_seconds=60)

# Each process: wait for a common start time, then try to acquire 20 permits concurrently.
WORKER = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from virtuna.engine.llm.breaker import BreakerPolicy, RedisBreakerStore

    async def main(prefix, start):
        store = RedisBreakerStore(sys.argv[3], prefix=prefix)
        policy = BreakerPolicy(failure_threshold=3, cooldown_seconds=30, probe_ttl_seconds=60)
        await asyncio.sleep(max(0.0, start - time.time()))
        t0 = time.perf_counter()
        permits = await asyncio.gather(*(store.acquire("gemini", policy) for _ in range(20)))
        took = time.perf_counter() - t0
        await store.aclose()
        print(json.dumps({"granted": sum(p is not None for p in permits),
                          "probes": sum(bool(p and p.probe) for p in permits), "took": took}))

    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
    """
)


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()  # type: ignore[misc]
    except (RedisConnectionError, OSError):
        await client.aclose()
        raise RuntimeError("Redis must run at 127.0.0.1:6379 (.ci/run starts it)") from None
    name = f"test:breaker:{uuid.uuid4().hex}"
    yield name
    keys = [key async for key in client.scan_iter(f"{name}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def run_workers(prefix: str, count: int) -> list[dict[str, float]]:
    start = time.time() + 1.5  # interpreters start, then all race at once
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, prefix, str(start), REDIS_URL],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    outputs = [proc.communicate(timeout=30)[0] for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    return [json.loads(out) for out in outputs]


async def trip(store: RedisBreakerStore) -> None:
    for _ in range(POLICY.failure_threshold):
        await store.failure("gemini", Permit(probe=False), POLICY)


async def test_half_open_lets_one_probe_through_across_processes(prefix: str) -> None:
    store = RedisBreakerStore(REDIS_URL, prefix=prefix)
    await trip(store)
    client = aioredis.from_url(REDIS_URL)
    await client.delete(f"{prefix}:gemini:open")  # the cool-down has passed
    await client.aclose()
    results = await asyncio.to_thread(run_workers, prefix, 2)
    assert sum(r["probes"] for r in results) == 1
    assert sum(r["granted"] for r in results) == 1  # everyone else failed fast
    # the probe failed: open again, nobody gets through
    await store.failure("gemini", Permit(probe=True), POLICY)
    assert await store.acquire("gemini", POLICY) is None
    await store.aclose()


async def test_open_breaker_fails_fast_in_every_process(prefix: str) -> None:
    store = RedisBreakerStore(REDIS_URL, prefix=prefix)
    await trip(store)
    await store.aclose()
    results = await asyncio.to_thread(run_workers, prefix, 2)
    assert [r["granted"] for r in results] == [0, 0]
    assert all(r["took"] < 1.0 for r in results)


async def test_success_closes_the_shared_breaker(prefix: str) -> None:
    store = RedisBreakerStore(REDIS_URL, prefix=prefix)
    await store.failure("deepseek", Permit(probe=False), POLICY)
    await store.failure("deepseek", Permit(probe=False), POLICY)
    await store.success("deepseek", Permit(probe=False))
    await store.failure("deepseek", Permit(probe=False), POLICY)  # 1 consecutive, not 3
    permit = await store.acquire("deepseek", POLICY)
    assert permit is not None
    assert not permit.probe
    await store.aclose()


async def test_redis_down_falls_back_to_in_process_state(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """L7: a closed port is not an error; the local breaker takes over, warned once."""
    store = RedisBreakerStore("redis://127.0.0.1:1/0", prefix="unused")
    started = time.monotonic()
    assert await store.acquire("gemini", POLICY) == Permit(probe=False)
    await trip(store)
    assert await store.acquire("gemini", POLICY) is None  # the local breaker opened
    assert time.monotonic() - started < 1.0
    warnings = [r for r in caplog.records if r.message == "llm.breaker.redis_unavailable"]
    assert len(warnings) == 1
    await store.aclose()


async def test_local_store_probe_token_expires() -> None:
    now = [0.0]
    store = LocalBreakerStore(clock=lambda: now[0])
    for _ in range(3):
        await store.failure("x", Permit(probe=False), POLICY)
    now[0] = 31.0
    assert await store.acquire("x", POLICY) == Permit(probe=True)
    assert await store.acquire("x", POLICY) is None
    now[0] = 31.0 + 61  # the probe never reported back: its token expired
    assert await store.acquire("x", POLICY) == Permit(probe=True)
