"""Build the job system for the configured database and run workers and schedulers."""

from __future__ import annotations

import asyncio
import importlib
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import structlog
from procrastinate import App
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from virtuna.config import Environment, Settings
from virtuna.jobs.execute import Runtime
from virtuna.jobs.local import LocalWorker
from virtuna.jobs.pg import ProcrastinateQueue, ProcrastinateWorker, build_app, register_tasks
from virtuna.jobs.port import registry
from virtuna.jobs.queue import DbQueue, LocalQueue
from virtuna.jobs.schedule import Scheduler
from virtuna.kit.db import create_engine, create_session_factory
from virtuna.kit.web import AppState

log = structlog.get_logger("virtuna.worker")

# Every domain's tasks module, imported when present: domains add theirs without touching
# the runner, and a domain without tasks costs nothing.
TASK_MODULES = (
    "virtuna.users.tasks",
    "virtuna.videos.tasks",
    "virtuna.trends.tasks",
    "virtuna.billing.tasks",
    "virtuna.costs.tasks",
    "virtuna.predictions.tasks",
    "virtuna.training.tasks",
    "virtuna.outcomes.tasks",
    "virtuna.media.tasks",
    "virtuna.webhooks.tasks",
)


def load_tasks(modules: tuple[str, ...] = TASK_MODULES) -> list[str]:
    """Import the task modules that exist; returns the task names now registered."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            # Skip only when the tasks module (or its package) is absent; a missing import
            # *inside* an existing tasks module is a real error.
            if not (name == missing or name.startswith(missing + ".")):
                raise
    return [spec.name for spec in registry.all()]


@dataclass
class JobSystem:
    settings: Settings
    queue: DbQueue
    runtime: Runtime
    app: App | None = None

    def worker(self) -> LocalWorker | ProcrastinateWorker:
        if self.app is None:
            return LocalWorker(self.runtime)
        return ProcrastinateWorker(self.runtime, self.app)

    def scheduler(self) -> Scheduler:
        return Scheduler(self.queue, self.settings, registry.all())


@asynccontextmanager
async def open_jobs(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], http: httpx.AsyncClient
) -> AsyncIterator[JobSystem]:
    load_tasks()
    if settings.is_sqlite:
        queue: DbQueue = LocalQueue(sessions)
        yield JobSystem(settings, queue, Runtime(settings, sessions, http, queue))
        return
    app = build_app(settings.resolved_database_url, pool_max=max(2, settings.jobs_concurrency))
    async with app.open_async():
        queue = ProcrastinateQueue(sessions, app)
        runtime = Runtime(settings, sessions, http, queue)
        register_tasks(app, runtime)
        yield JobSystem(settings, queue, runtime, app)


async def run_jobs(system: JobSystem, stop: asyncio.Event, *, schedule: bool = True) -> None:
    """Worker and scheduler side by side until ``stop``; either failing stops both."""
    tasks = [asyncio.create_task(system.worker().run(stop))]
    if schedule:
        tasks.append(asyncio.create_task(system.scheduler().run(stop)))
    try:
        await asyncio.gather(*tasks)
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def embedded_worker_enabled(settings: Settings) -> bool:
    if settings.embedded_worker is not None:
        return settings.embedded_worker
    return settings.is_sqlite and settings.env is not Environment.TEST


@asynccontextmanager
async def jobs_hook(state: AppState) -> AsyncIterator[None]:
    """API lifespan: a queue for endpoints in ``state.extras["jobs"]``, maybe a worker too."""
    async with open_jobs(state.settings, state.sessions, state.http) as system:
        state.extras["jobs"] = system.queue
        if not embedded_worker_enabled(state.settings):
            yield
            return
        stop = asyncio.Event()
        runner = asyncio.create_task(run_jobs(system, stop))
        log.info("worker.embedded")
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(runner, return_exceptions=True)


async def serve_worker(settings: Settings, *, schedule: bool = True) -> None:
    """`virtuna worker`: run until SIGTERM/SIGINT, then drain within the grace period."""
    engine = create_engine(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as http:
            async with open_jobs(settings, create_session_factory(engine), http) as system:
                await run_jobs(system, stop, schedule=schedule)
    finally:
        await engine.dispose()
