"""The job port: task declarations, the context a task runs with, and the queue protocol.

Every task must be idempotent: delivery is at-least-once on both engines.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from virtuna.config import Settings

TaskResult = dict[str, Any] | None


class JobQueue(Protocol):
    async def defer(
        self,
        task_name: str,
        *,
        args: dict[str, Any] | None = None,
        queueing_lock: str | None = None,
        lock: str | None = None,
        schedule_at: datetime | None = None,
    ) -> str | None:
        """Enqueue; returns the job id, or None when ``queueing_lock`` already has one waiting."""
        ...


@dataclass
class JobContext:
    """What a running task gets: its own sessions, settings, HTTP client, queue, progress."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient
    jobs: JobQueue
    job_id: str = ""
    attempt: int = 1
    progress: Callable[[int, int | None, str | None], Awaitable[None]] | None = None

    async def report(self, done: int, total: int | None = None, message: str | None = None) -> None:
        """Persist progress (done of total, and what is happening) for `virtuna jobs status`."""
        if self.progress is not None:
            await self.progress(done, total, message)


class PermanentFailure(Exception):
    """Raise from a task to fail its run now: retrying cannot help (bad input, gone data)."""


TaskFn = Callable[..., Awaitable[TaskResult]]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    base_delay_seconds: float = 10.0  # attempt n waits base * factor**(n-1)
    factor: float = 3.0
    max_delay_seconds: float = 3600.0

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based) before the next one."""
        return float(
            min(self.max_delay_seconds, self.base_delay_seconds * self.factor ** (attempt - 1))
        )


@dataclass(frozen=True)
class TaskSpec:
    name: str
    fn: TaskFn
    # Name of the Settings field holding the cron expression; None = on demand only.
    schedule_setting: str | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # A lock name: at most one job holding it runs at a time (e.g. "trends").
    lock: str | None = None


class _Registry:
    def __init__(self) -> None:
        self._tasks: dict[str, TaskSpec] = {}

    def add(self, spec: TaskSpec) -> None:
        existing = self._tasks.get(spec.name)
        if existing is not None and existing.fn is not spec.fn:
            raise ValueError(f"task {spec.name!r} declared twice")
        self._tasks[spec.name] = spec

    def get(self, name: str) -> TaskSpec | None:
        return self._tasks.get(name)

    def all(self) -> list[TaskSpec]:
        return sorted(self._tasks.values(), key=lambda s: s.name)


registry = _Registry()


def task(
    name: str,
    *,
    schedule_setting: str | None = None,
    retry: RetryPolicy | None = None,
    lock: str | None = None,
) -> Callable[[TaskFn], TaskFn]:
    """Declare a task: ``async def fn(ctx: JobContext, **args) -> dict | None``."""

    def decorate(fn: TaskFn) -> TaskFn:
        registry.add(
            TaskSpec(
                name=name,
                fn=fn,
                schedule_setting=schedule_setting,
                retry=retry or RetryPolicy(),
                lock=lock,
            )
        )
        return fn

    return decorate
