"""All SQL on ``job_runs`` and ``job_schedule_slots`` (both engines read and write these).

Every write is one statement whose outcome the database decides — an insert that yields
nothing on a lock conflict, a claim that updates at most one row — so concurrent workers
never need process memory to agree.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from virtuna.models.jobs import (
    ACTIVE_STATUSES,
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    JobRun,
    ScheduleSlot,
)


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def new_run_id() -> str:
    return uuid.uuid4().hex


async def insert_run(
    session: AsyncSession,
    *,
    task_name: str,
    args: dict[str, Any],
    trigger: str,
    queueing_lock: str | None,
    lock: str | None,
    scheduled_at: datetime,
    max_attempts: int,
    now: datetime,
) -> JobRun | None:
    """A queued run, or None when ``queueing_lock`` already has a queued run."""
    stmt = (
        _insert(session)(JobRun)
        .values(
            id=new_run_id(),
            task_name=task_name,
            args=args,
            trigger=trigger,
            status=QUEUED,
            queueing_lock=queueing_lock,
            lock=lock,
            scheduled_at=scheduled_at,
            attempt=0,
            max_attempts=max_attempts,
            progress_done=0,
            created_at=now,
        )
        # No conflict target: the only unique index an insert of a queued row can hit is the
        # partial one on queueing_lock, so "nothing inserted" means "already queued".
        .on_conflict_do_nothing()
        .returning(JobRun)
    )
    run: JobRun | None = (await session.scalars(stmt)).one_or_none()
    return run


async def lock_task_name(session: AsyncSession, task_name: str) -> None:
    """Serialise exclusive starts of a task (PostgreSQL; BEGIN IMMEDIATE does it on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"virtuna.job:{task_name}"}
        )


async def active_run(session: AsyncSession, task_name: str) -> JobRun | None:
    run: JobRun | None = await session.scalar(
        select(JobRun)
        .where(JobRun.task_name == task_name, JobRun.status.in_(ACTIVE_STATUSES))
        .order_by(JobRun.created_at)
        .limit(1)
    )
    return run


async def claim_next(session: AsyncSession, *, worker_id: str, now: datetime) -> JobRun | None:
    """Take the oldest due queued run whose lock is free (SQLite engine; one statement)."""
    holder = aliased(JobRun)
    candidate = (
        select(JobRun.id)
        .where(
            JobRun.status == QUEUED,
            JobRun.scheduled_at <= now,
            ~exists().where(
                and_(
                    JobRun.lock.is_not(None),
                    holder.lock == JobRun.lock,
                    holder.status == RUNNING,
                )
            ),
        )
        .order_by(JobRun.scheduled_at, JobRun.created_at)
        .limit(1)
        .scalar_subquery()
    )
    stmt = (
        update(JobRun)
        .where(JobRun.id == candidate, JobRun.status == QUEUED)
        .values(
            status=RUNNING,
            attempt=JobRun.attempt + 1,
            worker_id=worker_id,
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
        )
        .returning(JobRun)
        .execution_options(synchronize_session=False)
    )
    return (await session.scalars(stmt)).one_or_none()


async def mark_running(
    session: AsyncSession, run_id: str, *, worker_id: str, attempt: int, now: datetime
) -> JobRun | None:
    """The engine started this run (PostgreSQL: procrastinate fetched its job)."""
    stmt = (
        update(JobRun)
        .where(JobRun.id == run_id, JobRun.status.in_(ACTIVE_STATUSES))
        .values(
            status=RUNNING,
            attempt=attempt,
            worker_id=worker_id,
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
        )
        .returning(JobRun)
        .execution_options(synchronize_session=False)
    )
    return (await session.scalars(stmt)).one_or_none()


async def heartbeat(session: AsyncSession, run_ids: Sequence[str], *, now: datetime) -> None:
    if run_ids:
        await session.execute(
            update(JobRun)
            .where(JobRun.id.in_(run_ids), JobRun.status == RUNNING)
            .values(heartbeat_at=now)
            .execution_options(synchronize_session=False)
        )


async def set_progress(
    session: AsyncSession, run_id: str, *, done: int, total: int | None, message: str | None
) -> None:
    values: dict[str, Any] = {"progress_done": done, "progress_total": total}
    if message is not None:
        values["progress_message"] = message[:500]
    await session.execute(
        update(JobRun)
        .where(JobRun.id == run_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def finish(
    session: AsyncSession,
    run_id: str,
    *,
    succeeded: bool,
    error: str | None,
    result: dict[str, Any] | None,
    now: datetime,
) -> None:
    await session.execute(
        update(JobRun)
        .where(JobRun.id == run_id)
        .values(
            status=SUCCEEDED if succeeded else FAILED,
            error=error,
            result=result,
            finished_at=now,
            heartbeat_at=None,
        )
        .execution_options(synchronize_session=False)
    )


async def requeue(
    session: AsyncSession, run_id: str, *, at: datetime, error: str | None, refund: bool = False
) -> None:
    """Back to the queue (retry after backoff, or interrupted by shutdown when ``refund``)."""
    values: dict[str, Any] = {
        "status": QUEUED,
        "scheduled_at": at,
        "error": error,
        "worker_id": None,
        "heartbeat_at": None,
    }
    if refund:
        values["attempt"] = (
            func.max(JobRun.attempt - 1, 0)
            if _is_sqlite(session)
            else (func.greatest(JobRun.attempt - 1, 0))
        )
    await session.execute(
        update(JobRun)
        .where(JobRun.id == run_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def _is_sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


async def cancel(session: AsyncSession, run_id: str, *, reason: str, now: datetime) -> None:
    await session.execute(
        update(JobRun)
        .where(JobRun.id == run_id)
        .values(status=CANCELLED, error=reason, finished_at=now)
        .execution_options(synchronize_session=False)
    )


async def stalled(session: AsyncSession, *, cutoff: datetime) -> Sequence[JobRun]:
    """Running runs whose heartbeat is older than ``cutoff`` (their worker died)."""
    rows = await session.scalars(
        select(JobRun).where(JobRun.status == RUNNING, JobRun.heartbeat_at < cutoff)
    )
    return rows.all()


async def not_handed_over(session: AsyncSession, *, cutoff: datetime) -> Sequence[JobRun]:
    """Queued runs never given to procrastinate (the process died right after commit)."""
    rows = await session.scalars(
        select(JobRun).where(
            JobRun.status == QUEUED, JobRun.engine_job_id.is_(None), JobRun.created_at < cutoff
        )
    )
    return rows.all()


async def set_engine_job_id(session: AsyncSession, run_id: str, engine_job_id: int) -> None:
    await session.execute(
        update(JobRun)
        .where(JobRun.id == run_id)
        .values(engine_job_id=engine_job_id)
        .execution_options(synchronize_session=False)
    )


async def claim_slot(session: AsyncSession, *, task_name: str, slot_at: datetime) -> bool:
    """Record a cron slot; False if another scheduler already did (primary key)."""
    stmt = (
        _insert(session)(ScheduleSlot)
        .values(task_name=task_name, slot_at=slot_at)
        .on_conflict_do_nothing()
        .returning(ScheduleSlot.task_name)
    )
    return (await session.scalar(stmt)) is not None


async def set_slot_run(
    session: AsyncSession, *, task_name: str, slot_at: datetime, run_id: str
) -> None:
    await session.execute(
        update(ScheduleSlot)
        .where(ScheduleSlot.task_name == task_name, ScheduleSlot.slot_at == slot_at)
        .values(run_id=run_id)
        .execution_options(synchronize_session=False)
    )


async def get_run(session: AsyncSession, run_id: str) -> JobRun | None:
    return await session.get(JobRun, run_id, populate_existing=True)


async def list_runs(
    session: AsyncSession,
    *,
    task_name: str | None = None,
    status: str | None = None,
    limit: int = 50,
) -> Sequence[JobRun]:
    stmt = select(JobRun).order_by(JobRun.created_at.desc(), JobRun.id.desc()).limit(limit)
    if task_name is not None:
        stmt = stmt.where(JobRun.task_name == task_name)
    if status is not None:
        stmt = stmt.where(JobRun.status == status)
    return (await session.scalars(stmt)).all()


async def latest_per_task(session: AsyncSession) -> dict[str, JobRun]:
    newest = (
        select(JobRun.task_name, func.max(JobRun.created_at).label("at"))
        .group_by(JobRun.task_name)
        .subquery()
    )
    rows = await session.scalars(
        select(JobRun).join(
            newest, and_(JobRun.task_name == newest.c.task_name, JobRun.created_at == newest.c.at)
        )
    )
    return {row.task_name: row for row in rows}
