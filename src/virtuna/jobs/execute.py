"""Run one task for one job run: context, progress, logs, metrics, and the retry decision.

Both engines call :func:`execute`; it records the outcome on ``job_runs`` and tells the
engine what happened, so retry and failure bookkeeping is written once.
"""

from __future__ import annotations

import enum
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sentry_sdk
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from virtuna.config import Settings
from virtuna.jobs import store
from virtuna.jobs.port import JobContext, JobQueue, PermanentFailure, TaskSpec
from virtuna.kit.db import unit_of_work
from virtuna.kit.metrics import JOB_DURATION, JOB_RUNS

log = structlog.get_logger("virtuna.jobs")


class Outcome(enum.Enum):
    SUCCEEDED = "succeeded"
    RETRY = "retry"  # failed, queued again after backoff
    FAILED = "failed"  # failed for good
    INTERRUPTED = "interrupted"  # cancelled by shutdown, queued again without penalty


@dataclass(frozen=True)
class Runtime:
    """What every task needs, built once per worker process."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient
    queue: JobQueue


def _now() -> datetime:
    return datetime.now(UTC)


def _jsonable(result: Any) -> dict[str, Any] | None:
    if result is None:
        return None
    data = result if isinstance(result, dict) else {"value": result}
    # Round-trip so whatever a task returned (dates, uuids) is storable as JSON.
    loaded: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return loaded


def _progress(runtime: Runtime, run_id: str) -> Any:
    async def report(done: int, total: int | None, message: str | None) -> None:
        async with unit_of_work(runtime.sessions) as session:
            await store.set_progress(session, run_id, done=done, total=total, message=message)

    return report


async def execute(
    runtime: Runtime,
    spec: TaskSpec,
    *,
    run_id: str,
    args: dict[str, Any],
    attempt: int,
    max_attempts: int,
) -> Outcome:
    """Run the task and record its outcome; returns it so the engine can follow suit."""
    ctx = JobContext(
        settings=runtime.settings,
        sessions=runtime.sessions,
        http=runtime.http,
        jobs=runtime.queue,
        job_id=run_id,
        attempt=attempt,
        progress=_progress(runtime, run_id),
    )
    started = time.monotonic()
    with structlog.contextvars.bound_contextvars(job=spec.name, run_id=run_id, attempt=attempt):
        log.info("job.started")
        try:
            result = await spec.fn(ctx, **args)
        except BaseException as exc:  # every failure is recorded; cancellation re-raised
            outcome = await _record_failure(runtime, spec, run_id, exc, attempt, max_attempts)
            _observe(spec.name, outcome, started)
            if not isinstance(exc, Exception):
                raise  # cancellation / interpreter exit: the caller must see it
            return outcome
        async with unit_of_work(runtime.sessions) as session:
            await store.finish(
                session, run_id, succeeded=True, error=None, result=_jsonable(result), now=_now()
            )
        log.info("job.succeeded", duration_ms=round((time.monotonic() - started) * 1000))
        _observe(spec.name, Outcome.SUCCEEDED, started)
        return Outcome.SUCCEEDED


def _observe(job: str, outcome: Outcome, started: float) -> None:
    JOB_RUNS.labels(job=job, status=outcome.value).inc()
    JOB_DURATION.labels(job=job).observe(time.monotonic() - started)


def decide(spec: TaskSpec, exc: BaseException, attempt: int, max_attempts: int) -> Outcome:
    if not isinstance(exc, Exception):
        return Outcome.INTERRUPTED
    if isinstance(exc, PermanentFailure) or attempt >= max_attempts:
        return Outcome.FAILED
    return Outcome.RETRY


async def _record_failure(
    runtime: Runtime,
    spec: TaskSpec,
    run_id: str,
    exc: BaseException,
    attempt: int,
    max_attempts: int,
) -> Outcome:
    outcome = decide(spec, exc, attempt, max_attempts)
    error = f"{type(exc).__name__}: {exc}"[:4000]
    now = _now()
    async with unit_of_work(runtime.sessions) as session:
        if outcome is Outcome.FAILED:
            await store.finish(session, run_id, succeeded=False, error=error, result=None, now=now)
        elif outcome is Outcome.RETRY:
            at = now + timedelta(seconds=spec.retry.delay_after(attempt))
            await store.requeue(session, run_id, at=at, error=error)
        else:
            await store.requeue(session, run_id, at=now, error="interrupted", refund=True)
    if outcome is Outcome.INTERRUPTED:
        log.warning("job.interrupted")
    elif outcome is Outcome.RETRY:
        log.warning("job.retrying", error=error, retry_in_s=spec.retry.delay_after(attempt))
    else:
        log.error("job.failed", error=error, exc_info=exc)
        sentry_sdk.capture_exception(exc)
    return outcome
