"""The PostgreSQL engine: procrastinate runs the queue, ``job_runs`` keeps the record.

* Every registered task becomes a procrastinate task of the same name taking ``run_id``;
  the wrapper marks the run running, executes it (``jobs.execute``) and turns the outcome
  into procrastinate's retry decision, using the task's own ``RetryPolicy``.
* procrastinate's tables live in the ``procrastinate`` schema (migration 0005); the
  connector puts it first on its ``search_path``.
* Killed workers leave jobs ``doing`` forever unless someone retries them: each worker's
  sweep asks procrastinate for jobs whose worker stopped heartbeating and retries them
  (or fails them once out of attempts), and hands over runs committed but never deferred.
* Periodic deferral is ours (``jobs.schedule``), not procrastinate's — see that module.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from procrastinate import App, PsycopgConnector, exceptions, job_context, retry
from procrastinate.jobs import Job, Status
from sqlalchemy.engine import make_url

from virtuna.jobs import store
from virtuna.jobs.execute import Outcome, Runtime, execute
from virtuna.jobs.port import TaskSpec, registry
from virtuna.jobs.queue import DbQueue
from virtuna.kit.db import unit_of_work
from virtuna.models.jobs import JobRun

log = structlog.get_logger("virtuna.jobs.pg")
QUEUE = "virtuna"
SCHEMA = "procrastinate"


def _now() -> datetime:
    return datetime.now(UTC)


def conninfo(database_url: str) -> str:
    """A libpq URI for psycopg from the SQLAlchemy URL (driver suffix dropped)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class _RetryLater(Exception):
    def __init__(self, delay: float) -> None:
        super().__init__(f"retry in {delay:.1f}s")
        self.delay = delay


class _Failed(Exception):
    """The run failed for good; already recorded, procrastinate must not retry."""


class _Policy(retry.BaseRetryStrategy):
    """Defer to the decision ``jobs.execute`` already made and recorded."""

    def get_retry_decision(
        self, *, exception: BaseException, job: Job
    ) -> retry.RetryDecision | None:
        if isinstance(exception, _RetryLater):
            return retry.RetryDecision(retry_at=_now() + timedelta(seconds=exception.delay))
        if isinstance(exception, asyncio.CancelledError | exceptions.JobAborted):
            return retry.RetryDecision(retry_at=_now())  # interrupted by shutdown: run again
        return None


def build_app(database_url: str, *, pool_max: int = 4) -> App:
    connector = PsycopgConnector(
        conninfo=conninfo(database_url),
        min_size=1,
        max_size=pool_max,
        kwargs={"options": f"-c search_path={SCHEMA},public"},
    )
    return App(connector=connector)


class ProcrastinateQueue(DbQueue):
    def __init__(self, runtime_sessions: Any, app: App) -> None:
        super().__init__(runtime_sessions)
        self.app = app

    async def handoff(self, run: JobRun) -> None:
        deferrer = self.app.configure_task(
            name=run.task_name,
            lock=run.lock,
            queueing_lock=run.queueing_lock,
            schedule_at=run.scheduled_at,
            queue=QUEUE,
        )
        try:
            job_id = await deferrer.defer_async(run_id=run.id)
        except exceptions.AlreadyEnqueued:
            async with unit_of_work(self.sessions) as session:
                await store.cancel(
                    session, run.id, reason="queueing lock held in procrastinate", now=_now()
                )
            return
        async with unit_of_work(self.sessions) as session:
            await store.set_engine_job_id(session, run.id, job_id)
        run.engine_job_id = job_id


def register_tasks(app: App, runtime: Runtime) -> None:
    """One procrastinate task per registered virtuna task (idempotent per app)."""
    for spec in registry.all():
        if spec.name not in app.tasks:
            app.task(name=spec.name, pass_context=True, queue=QUEUE, retry=_Policy())(
                _wrapper(spec, runtime)
            )


def _wrapper(spec: TaskSpec, runtime: Runtime) -> Any:
    async def run_task(context: job_context.JobContext, run_id: str, **_: Any) -> None:
        job = context.job
        attempt = job.attempts + 1
        async with unit_of_work(runtime.sessions) as session:
            run = await store.mark_running(
                session, run_id, worker_id=str(context.worker_name), attempt=attempt, now=_now()
            )
        if run is None:
            log.warning("job.skipped", job=spec.name, run_id=run_id, reason="run not active")
            return
        outcome = await execute(
            runtime,
            spec,
            run_id=run_id,
            args=run.args,
            attempt=attempt,
            max_attempts=run.max_attempts,
        )
        if outcome is Outcome.RETRY:
            raise _RetryLater(spec.retry.delay_after(attempt))
        if outcome is Outcome.FAILED:
            raise _Failed(f"{spec.name} failed (run {run_id})")

    run_task.__name__ = f"run_{spec.name.replace('-', '_')}"
    return run_task


class ProcrastinateWorker:
    def __init__(self, runtime: Runtime, app: App, *, concurrency: int | None = None) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.app = app
        self.concurrency = concurrency or self.settings.jobs_concurrency
        register_tasks(app, runtime)

    async def run_until_idle(self) -> None:
        """Run due jobs until none is left (tests, `jobs run --wait` without a worker)."""
        await self.app.run_worker_async(
            queues=[QUEUE],
            concurrency=1,
            wait=False,
            install_signal_handlers=False,
            listen_notify=False,
        )

    async def sweep(self) -> int:
        """Retry jobs of dead workers; hand over runs that were committed but never deferred."""
        manager = self.app.job_manager
        stalled = list(
            await manager.get_stalled_jobs(
                queue=QUEUE, seconds_since_heartbeat=self.settings.jobs_stalled_seconds
            )
        )
        for job in stalled:
            await self._recover(job)
        cutoff = _now() - timedelta(seconds=self.settings.jobs_stalled_seconds)
        async with unit_of_work(self.runtime.sessions) as session:
            orphans = await store.not_handed_over(session, cutoff=cutoff)
        queue = self.runtime.queue
        for run in orphans:
            if isinstance(queue, ProcrastinateQueue):
                log.warning("job.handoff_recovered", job=run.task_name, run_id=run.id)
                await queue.handoff(run)
        return len(stalled) + len(orphans)

    async def _recover(self, job: Job) -> None:
        run_id = str(job.task_kwargs.get("run_id", ""))
        spec = registry.get(job.task_name)
        max_attempts = spec.retry.max_attempts if spec else 1
        reason = "worker stopped responding (stalled)"
        now = _now()
        out_of_attempts = job.attempts + 1 >= max_attempts
        if out_of_attempts:
            await self.app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
        else:
            await self.app.job_manager.retry_job(job)
        async with unit_of_work(self.runtime.sessions) as session:
            if out_of_attempts:
                await store.finish(
                    session, run_id, succeeded=False, error=reason, result=None, now=now
                )
            else:
                await store.requeue(session, run_id, at=now, error=reason)
        log.warning("job.stalled", job=job.task_name, run_id=run_id, retried=not out_of_attempts)

    async def _sweep_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sweep()
            except Exception:
                log.exception("worker.sweep_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.jobs_sweep_seconds)

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        log.info("worker.started", engine="procrastinate", tasks=len(registry.all()))
        worker = asyncio.create_task(
            self.app.run_worker_async(
                queues=[QUEUE],
                concurrency=self.concurrency,
                wait=True,
                install_signal_handlers=False,
                update_heartbeat_interval=s.jobs_heartbeat_seconds,
                stalled_worker_timeout=s.jobs_stalled_seconds,
                shutdown_graceful_timeout=s.jobs_shutdown_grace_seconds,
                fetch_job_polling_interval=s.jobs_poll_seconds,
                listen_notify=True,
            )
        )
        sweeper = asyncio.create_task(self._sweep_loop(stop))
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({worker, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            sweeper.cancel()
            worker.cancel()  # procrastinate then drains running jobs within its grace period
            await asyncio.gather(worker, sweeper, stopper, return_exceptions=True)
            log.info("worker.stopped", engine="procrastinate")
        if not stop.is_set() and not worker.cancelled() and worker.exception() is not None:
            raise RuntimeError("the procrastinate worker stopped") from worker.exception()
