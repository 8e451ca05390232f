"""The JobQueue adapters: every deferral becomes a ``job_runs`` row in its own transaction.

On SQLite that row is the job (the in-process worker claims it). On PostgreSQL the committed
row is then handed to procrastinate (``handoff``); a row whose handoff never happened (the
process died in between) is found and handed over by the worker's sweep.

A deferral opens its own short transaction, so call it after your unit of work commits (on
SQLite a request's transaction holds the write lock until then).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from virtuna.jobs import service
from virtuna.jobs.port import TaskSpec
from virtuna.kit.db import unit_of_work
from virtuna.models.jobs import JobRun


def _now() -> datetime:
    return datetime.now(UTC)


class DbQueue:
    """Shared behaviour; subclasses decide what ``handoff`` means for their engine."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def handoff(self, run: JobRun) -> None:
        """Give a committed queued run to the engine (nothing to do on SQLite)."""

    async def defer(
        self,
        task_name: str,
        *,
        args: dict[str, Any] | None = None,
        queueing_lock: str | None = None,
        lock: str | None = None,
        schedule_at: datetime | None = None,
    ) -> str | None:
        async with unit_of_work(self.sessions) as session:
            run = await service.create_run(
                session,
                task_name=task_name,
                args=args,
                trigger="defer",
                queueing_lock=queueing_lock,
                lock=lock,
                schedule_at=schedule_at,
                now=_now(),
            )
        if run is None:
            return None
        await self.handoff(run)
        return run.id

    async def start(
        self, task_name: str, *, trigger: str, args: dict[str, Any] | None = None
    ) -> JobRun:
        """Start a job now unless it is already queued or running (``Conflict``: 409)."""
        async with unit_of_work(self.sessions) as session:
            run = await service.start_exclusive(
                session, task_name=task_name, trigger=trigger, args=args, now=_now()
            )
        await self.handoff(run)
        return run

    async def schedule_slot(self, spec: TaskSpec, slot_at: datetime) -> JobRun | None:
        async with unit_of_work(self.sessions) as session:
            run = await service.schedule_slot(session, spec=spec, slot_at=slot_at, now=_now())
        if run is not None:
            await self.handoff(run)
        return run


class LocalQueue(DbQueue):
    """SQLite: the ``job_runs`` row is the queue entry; the local worker claims it."""
