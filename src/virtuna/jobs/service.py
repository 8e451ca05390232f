"""Use cases on job runs shared by both engines: defer, exclusive start, cron slots, reads.

Services only ``flush``; the caller (queue adapter, endpoint, command) owns the transaction,
and hands a committed run to its engine afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.errors import Conflict, NotFound
from virtuna.jobs import store
from virtuna.jobs.port import TaskSpec, registry
from virtuna.models.jobs import JobRun

TRIGGERS = ("schedule", "api", "cli", "defer")


def spec_for(task_name: str) -> TaskSpec:
    spec = registry.get(task_name)
    if spec is None:
        known = ", ".join(s.name for s in registry.all()) or "none registered"
        raise NotFound(f"unknown job {task_name!r} (known: {known})")
    return spec


async def create_run(
    session: AsyncSession,
    *,
    task_name: str,
    args: dict[str, Any] | None,
    trigger: str,
    queueing_lock: str | None,
    lock: str | None,
    schedule_at: datetime | None,
    now: datetime,
) -> JobRun | None:
    """A queued run; None when ``queueing_lock`` already has one waiting."""
    spec = spec_for(task_name)
    return await store.insert_run(
        session,
        task_name=spec.name,
        args=dict(args or {}),
        trigger=trigger,
        queueing_lock=queueing_lock,
        lock=lock if lock is not None else spec.lock,
        scheduled_at=schedule_at or now,
        max_attempts=spec.retry.max_attempts,
        now=now,
    )


async def start_exclusive(
    session: AsyncSession,
    *,
    task_name: str,
    trigger: str,
    args: dict[str, Any] | None = None,
    now: datetime,
) -> JobRun:
    """Start a run unless one of the same job is queued or running (then ``Conflict``).

    The check and the insert share one transaction that holds a per-task lock (an advisory
    lock on PostgreSQL, the write lock on SQLite), so two concurrent starts cannot both pass.
    """
    spec = spec_for(task_name)
    await store.lock_task_name(session, spec.name)
    active = await store.active_run(session, spec.name)
    if active is not None:
        raise Conflict(
            f"job {spec.name!r} is already {active.status} (run {active.id})",
            details={"run_id": active.id, "status": active.status},
        )
    run = await create_run(
        session,
        task_name=spec.name,
        args=args,
        trigger=trigger,
        queueing_lock=spec.name,
        lock=None,
        schedule_at=None,
        now=now,
    )
    if run is None:  # a deferral with the task's name as queueing lock slipped in
        raise Conflict(f"job {spec.name!r} is already queued")
    return run


async def schedule_slot(
    session: AsyncSession, *, spec: TaskSpec, slot_at: datetime, now: datetime
) -> JobRun | None:
    """Defer a cron slot exactly once across every scheduler; None if another one did.

    The slot row and the run row are written in the same transaction, so a scheduler killed
    half-way leaves neither (procrastinate #1495 is a recorded slot without its job). Every
    slot gets its own run, as procrastinate's periodic tasks do: a slow or stalled run never
    makes the schedule skip; tasks that must not overlap declare a ``lock``.
    """
    if not await store.claim_slot(session, task_name=spec.name, slot_at=slot_at):
        return None
    run = await create_run(
        session,
        task_name=spec.name,
        args=None,
        trigger="schedule",
        queueing_lock=None,
        lock=None,
        schedule_at=None,
        now=now,
    )
    assert run is not None  # no queueing lock, so the insert cannot be refused
    await store.set_slot_run(session, task_name=spec.name, slot_at=slot_at, run_id=run.id)
    return run


async def get_run(session: AsyncSession, run_id: str) -> JobRun:
    run = await store.get_run(session, run_id)
    if run is None:
        raise NotFound(f"no job run {run_id!r}")
    return run


async def list_runs(
    session: AsyncSession, *, task_name: str | None, status: str | None, limit: int
) -> Sequence[JobRun]:
    return await store.list_runs(session, task_name=task_name, status=status, limit=limit)
