"""Tasks the job tests run (registered on import, in this process or a worker subprocess)."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from virtuna.jobs import JobContext, PermanentFailure, RetryPolicy, task
from virtuna.kit.db import unit_of_work
from virtuna.webhooks.store import store_event

CALLS: dict[str, list[float]] = defaultdict(list)
ACTIVE: dict[str, int] = defaultdict(int)
PEAK: dict[str, int] = defaultdict(int)


def reset() -> None:
    CALLS.clear()
    ACTIVE.clear()
    PEAK.clear()


@task("test-echo")
async def echo(ctx: JobContext, **args: Any) -> dict[str, Any]:
    CALLS["echo"].append(time.monotonic())
    await ctx.report(1, 2, "halfway")
    await ctx.report(2, 2, "done")
    return {"args": args, "attempt": ctx.attempt}


@task("test-flaky", retry=RetryPolicy(max_attempts=3, base_delay_seconds=2.0, factor=2.0))
async def flaky(ctx: JobContext, key: str, fail_times: int) -> dict[str, Any]:
    CALLS[key].append(time.monotonic())
    if len(CALLS[key]) <= fail_times:
        raise RuntimeError(f"transient failure {len(CALLS[key])}")
    return {"attempt": ctx.attempt}


@task("test-broken", retry=RetryPolicy(max_attempts=2, base_delay_seconds=0.1, factor=1.0))
async def broken(ctx: JobContext, key: str, permanent: bool = False) -> None:
    CALLS[key].append(time.monotonic())
    if permanent:
        raise PermanentFailure("input can never work")
    raise RuntimeError("always broken")


@task("test-slow", lock="test-slow-lock")
async def slow(ctx: JobContext, key: str, seconds: float) -> None:
    ACTIVE[key] += 1
    PEAK[key] = max(PEAK[key], ACTIVE[key])
    try:
        await asyncio.sleep(seconds)
    finally:
        ACTIVE[key] -= 1
        CALLS[key].append(time.monotonic())


@task("test-unlocked")
async def unlocked(ctx: JobContext, key: str, seconds: float) -> None:
    await slow(ctx, key, seconds)


@task("test-cron", schedule_setting="schedule_purge_uploads")
async def cron(ctx: JobContext) -> None:
    CALLS["cron"].append(time.monotonic())


@task("test-ingest", retry=RetryPolicy(max_attempts=3, base_delay_seconds=0.1))
async def ingest(ctx: JobContext, key: str, marker: str, sleep: float = 0.0) -> dict[str, Any]:
    """Side effect first (idempotent), then a marker, then (first attempt only) a pause a
    test can kill the worker in."""
    async with unit_of_work(ctx.sessions) as session:
        _, new = await store_event(
            session, source="test", external_id=key, event_type="ingest", payload={}
        )
    with Path(marker).open("a") as handle:
        handle.write(f"started {ctx.attempt}\n")
    await asyncio.sleep(sleep if ctx.attempt == 1 else 0)
    return {"new": new}
