"""Small helpers for job tests: a background worker, polling, reading runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from virtuna.jobs import store
from virtuna.kit.db import READ_ONLY
from virtuna.models.jobs import JobRun
from virtuna.worker.runtime import JobSystem, run_jobs


@asynccontextmanager
async def running(system: JobSystem, *, schedule: bool = False) -> AsyncIterator[None]:
    stop = asyncio.Event()
    worker = asyncio.create_task(run_jobs(system, stop, schedule=schedule))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=30)


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


async def get_run(system: JobSystem, run_id: str) -> JobRun:
    async with system.runtime.sessions() as session:
        conn = await session.connection(execution_options=READ_ONLY)
        assert conn is not None
        run = await store.get_run(session, run_id)
        assert run is not None
        return run


async def runs(system: JobSystem, task_name: str) -> list[JobRun]:
    async with system.runtime.sessions() as session:
        await session.connection(execution_options=READ_ONLY)
        return list(await store.list_runs(session, task_name=task_name, limit=1000))


async def finished(system: JobSystem, run_id: str) -> bool:
    return (await get_run(system, run_id)).status in ("succeeded", "failed", "cancelled")
