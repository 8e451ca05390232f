"""`virtuna jobs` and `virtuna worker`: see, start and run background jobs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import typer
from rich.table import Table

from virtuna.cli.common import err, fail, out, print_json, progress_bar, run, settings_or_exit
from virtuna.config import Settings
from virtuna.errors import Conflict
from virtuna.jobs import service
from virtuna.jobs.port import registry
from virtuna.jobs.schedule import cron_for
from virtuna.jobs.schemas import JobRunRead
from virtuna.kit.db import create_engine, create_session_factory
from virtuna.kit.startup import migrate_database
from virtuna.worker.runtime import JobSystem, load_tasks, open_jobs, serve_worker

app = typer.Typer(help="List, start and inspect background jobs.", no_args_is_help=True)


@asynccontextmanager
async def _system(settings: Settings) -> AsyncIterator[JobSystem]:
    if settings.auto_migrate:
        await asyncio.to_thread(migrate_database, settings)
    engine = create_engine(settings)
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as http:
            async with open_jobs(settings, create_session_factory(engine), http) as system:
                yield system
    finally:
        await engine.dispose()


@app.command("list")
def list_jobs(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every known job with its schedule."""
    settings = settings_or_exit()
    load_tasks()
    rows = [{"name": s.name, "schedule": cron_for(settings, s)} for s in registry.all()]
    if as_json:
        print_json(rows)
        return
    table = Table("job", "schedule (UTC)")
    for row in rows:
        table.add_row(str(row["name"]), str(row["schedule"] or "on demand"))
    out.print(table)


async def _wait(system: JobSystem, run_id: str, *, show: bool) -> JobRunRead:
    """Follow a run to its end; runs the work here when no worker is running it."""
    bar = progress_bar(show)
    worker = system.worker()
    with bar if bar is not None else contextlib.nullcontext():
        task_id = bar.add_task(run_id[:8], total=None) if bar is not None else None
        while True:
            async with system.runtime.sessions() as session:
                run = JobRunRead.of(await service.get_run(session, run_id))
            if bar is not None and task_id is not None:
                p = run.progress
                bar.update(
                    task_id, completed=p.done, total=p.total, description=p.message or run.status
                )
            if run.status in ("succeeded", "failed", "cancelled"):
                return run
            if run.status == "queued":
                await worker.run_until_idle()
                continue
            await asyncio.sleep(0.5)


@app.command("run")
def run_job(
    name: str = typer.Argument(..., help="Job name (see `virtuna jobs list`)."),
    wait: bool = typer.Option(False, "--wait", help="Wait for the run to finish, with progress."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Queue a run of NAME now (refused while one is queued or running)."""
    settings = settings_or_exit()

    async def body() -> JobRunRead:
        async with _system(settings) as system:
            try:
                started = await system.queue.start(name, trigger="cli")
            except Conflict as exc:
                fail(f"{exc.message}; see `virtuna jobs status`")
            if not wait:
                return JobRunRead.of(started)
            return await _wait(system, started.id, show=not as_json)

    result = run(body)
    if as_json:
        print_json(result.model_dump(mode="json"))
    else:
        out.print(f"{result.job} run {result.id}: {result.status}")
        if result.error:
            err.print(f"error: {result.error}", highlight=False)
    if result.status == "failed":
        raise typer.Exit(1)


@app.command("status")
def status(
    run_id: str | None = typer.Argument(None, help="A run id; omit for recent runs."),
    limit: int = typer.Option(20, min=1, max=200, help="How many recent runs."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """One run in detail, or the most recent runs."""
    settings = settings_or_exit()

    async def body() -> list[JobRunRead]:
        async with _system(settings) as system, system.runtime.sessions() as session:
            if run_id is not None:
                return [JobRunRead.of(await service.get_run(session, run_id))]
            runs = await service.list_runs(session, task_name=None, status=None, limit=limit)
            return [JobRunRead.of(r) for r in runs]

    runs = run(body)
    if as_json:
        payload = [r.model_dump(mode="json") for r in runs]
        print_json(payload[0] if run_id is not None else payload)
        return
    table = Table("run", "job", "trigger", "status", "attempt", "progress", "created", "error")
    for r in runs:
        progress = f"{r.progress.done}/{r.progress.total or '?'}"
        if r.progress.message:
            progress += f" {r.progress.message}"
        table.add_row(
            r.id if run_id else r.id[:12],
            r.job,
            r.trigger,
            r.status,
            f"{r.attempt}/{r.max_attempts}",
            progress,
            r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            (r.error or "")[:60],
        )
    out.print(table)


def worker(
    no_schedule: bool = typer.Option(
        False, "--no-schedule", help="Run jobs only; leave cron scheduling to other workers."
    ),
) -> None:
    """Run queued and scheduled jobs until SIGTERM/SIGINT (several at once are fine)."""
    settings = settings_or_exit()
    if settings.auto_migrate:
        migrate_database(settings)
    from virtuna.kit.observability import init_sentry

    init_sentry(settings, component="worker")
    engine = "procrastinate (PostgreSQL)" if not settings.is_sqlite else "in-process (SQLite)"
    out.print(f"virtuna worker: {engine}, jobs: {', '.join(load_tasks()) or 'none'}")
    asyncio.run(serve_worker(settings, schedule=not no_schedule))
