"""The in-process engine for SQLite: claims, heartbeats, stalled-job recovery, retries.

It copies procrastinate's semantics on one database file: a claim is one
``UPDATE … RETURNING`` under ``BEGIN IMMEDIATE`` (so two workers — threads or processes —
never take the same run), a running run refreshes its heartbeat, and any worker's sweep
re-queues runs whose heartbeat went silent (their worker was killed). Several worker
processes on the same file are fine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from virtuna.jobs import store
from virtuna.jobs.execute import Runtime, execute
from virtuna.jobs.port import registry
from virtuna.kit.db import unit_of_work
from virtuna.models.jobs import JobRun

log = structlog.get_logger("virtuna.jobs.local")


def _now() -> datetime:
    return datetime.now(UTC)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class LocalWorker:
    def __init__(self, runtime: Runtime, *, concurrency: int | None = None) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.concurrency = concurrency or self.settings.jobs_concurrency
        self.worker_id = worker_name()
        self._running: dict[str, asyncio.Task[None]] = {}

    async def claim(self) -> JobRun | None:
        async with unit_of_work(self.runtime.sessions) as session:
            return await store.claim_next(session, worker_id=self.worker_id, now=_now())

    async def run_claimed(self, run: JobRun) -> None:
        spec = registry.get(run.task_name)
        if spec is None:
            # Another version of the code deferred it: leave it for a worker that knows it.
            async with unit_of_work(self.runtime.sessions) as session:
                await store.requeue(
                    session,
                    run.id,
                    at=_now() + timedelta(seconds=60),
                    error=f"no task named {run.task_name!r} in this worker",
                    refund=True,
                )
            return
        await execute(
            self.runtime,
            spec,
            run_id=run.id,
            args=run.args,
            attempt=run.attempt,
            max_attempts=run.max_attempts,
        )

    async def run_until_idle(self) -> int:
        """Run due jobs one after another until none is due (tests, `jobs run` without a worker)."""
        count = 0
        while (run := await self.claim()) is not None:
            await self.run_claimed(run)
            count += 1
        return count

    async def sweep(self) -> int:
        """Re-queue (or fail, when out of attempts) runs whose worker stopped heartbeating."""
        now = _now()
        cutoff = now - timedelta(seconds=self.settings.jobs_stalled_seconds)
        async with unit_of_work(self.runtime.sessions) as session:
            stalled = await store.stalled(session, cutoff=cutoff)
            for run in stalled:
                reason = f"worker {run.worker_id} stopped responding (stalled)"
                if run.attempt >= run.max_attempts:
                    await store.finish(
                        session, run.id, succeeded=False, error=reason, result=None, now=now
                    )
                else:
                    await store.requeue(session, run.id, at=now, error=reason)
        for run in stalled:
            log.warning("job.stalled", job=run.task_name, run_id=run.id, worker=run.worker_id)
        return len(stalled)

    async def _heartbeat_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.jobs_heartbeat_seconds)
            if self._running:
                try:
                    async with unit_of_work(self.runtime.sessions) as session:
                        await store.heartbeat(session, list(self._running), now=_now())
                except Exception:
                    log.exception("worker.heartbeat_failed")

    async def _sweep_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sweep()
            except Exception:
                log.exception("worker.sweep_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.jobs_sweep_seconds)

    async def _claim_loop(self, stop: asyncio.Event) -> None:
        slots = asyncio.Semaphore(self.concurrency)
        while not stop.is_set():
            await slots.acquire()
            run = None
            try:
                run = None if stop.is_set() else await self.claim()
            except Exception:
                log.exception("worker.claim_failed")
            if run is None:
                slots.release()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.jobs_poll_seconds)
                continue
            job = asyncio.create_task(self.run_claimed(run), name=f"job {run.task_name}")
            self._running[run.id] = job
            job.add_done_callback(self._on_done(run.id, slots))

    def _on_done(
        self, run_id: str, slots: asyncio.Semaphore
    ) -> Callable[[asyncio.Task[None]], None]:
        def finished(_: asyncio.Task[None]) -> None:
            self._running.pop(run_id, None)
            slots.release()

        return finished

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, then give running jobs the grace period to finish."""
        log.info(
            "worker.started", worker=self.worker_id, engine="sqlite", tasks=len(registry.all())
        )
        loops = [
            asyncio.create_task(self._claim_loop(stop)),
            asyncio.create_task(self._heartbeat_loop(stop)),
            asyncio.create_task(self._sweep_loop(stop)),
        ]
        try:
            await stop.wait()
        finally:
            await self._drain()
            for loop in loops:
                loop.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            log.info("worker.stopped", worker=self.worker_id)

    async def _drain(self) -> None:
        running = list(self._running.values())
        if not running:
            return
        log.info("worker.draining", jobs=len(running))
        _, pending = await asyncio.wait(running, timeout=self.settings.jobs_shutdown_grace_seconds)
        # Cancelled jobs record themselves as interrupted and go back to the queue.
        for job in pending:
            job.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
