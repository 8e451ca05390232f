"""Real worker processes: SIGKILL mid-job (J1) and SIGTERM mid-job (J6), on both engines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.service.jobs.helpers import finished, get_run, runs, wait_for
from virtuna.config import Settings
from virtuna.models import ExternalEvent, ScheduleSlot
from virtuna.worker.runtime import JobSystem

ROOT = Path(__file__).resolve().parents[3]


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    # Only the test's own cron runs: every real schedule is switched off in these workers.
    schedules = {name.upper(): "" for name in Settings.model_fields if name.startswith("schedule_")}
    return {
        **schedules,
        **extra,
        **os.environ,
        "VIRTUNA_DATABASE_URL": settings.resolved_database_url,
        "VIRTUNA_DATA_DIR": str(settings.data_dir),
        "VIRTUNA_ENV": "test",
        "VIRTUNA_AUTO_MIGRATE": "false",
        "LOG_FORMAT": "json",
        "VIRTUNA_JOBS_POLL_SECONDS": "0.1",
        "VIRTUNA_JOBS_HEARTBEAT_SECONDS": "0.5",
        "VIRTUNA_JOBS_STALLED_SECONDS": "2",
        "VIRTUNA_JOBS_SWEEP_SECONDS": "0.5",
        "VIRTUNA_JOBS_SHUTDOWN_GRACE_SECONDS": "10",
    }


@pytest.fixture
def spawn(job_settings: Settings, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def _start(
    settings: Settings, tmp_path: Path, name: str, *, module: str = "worker_proc", **env: str
) -> subprocess.Popen[bytes]:
    with (tmp_path / f"{name}.log").open("wb") as log:  # the child keeps its own handle
        return subprocess.Popen(
            [sys.executable, "-m", f"tests.service.jobs.{module}"],
            cwd=ROOT,
            env=_env(settings, **env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def _marker_lines(marker: Path) -> int:
    return len(marker.read_text().splitlines()) if marker.exists() else 0


async def test_killed_worker_job_is_rerun_once(
    system: JobSystem, job_settings: Settings, tmp_path: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    """J1: SIGKILL mid-job -> detected as stalled, re-run by another worker well within 60 s,
    and the side effect (an idempotent insert) happened exactly once."""
    marker = tmp_path / "marker.txt"
    spawn.append(_start(job_settings, tmp_path, "a"))
    run_id = await system.queue.defer(
        "test-ingest", args={"key": "k1", "marker": str(marker), "sleep": 60}
    )
    assert run_id is not None
    await wait_for(lambda: _count_is(marker, 1), timeout=30)
    spawn[0].send_signal(signal.SIGKILL)
    spawn[0].wait(timeout=10)
    killed_at = time.monotonic()
    assert (await get_run(system, run_id)).status == "running"  # nobody knows yet

    spawn.append(_start(job_settings, tmp_path, "b"))
    await wait_for(lambda: finished(system, run_id), timeout=60)
    recovered_in = time.monotonic() - killed_at
    run = await get_run(system, run_id)
    assert run.status == "succeeded", run.error
    assert run.attempt == 2
    assert recovered_in < 60
    assert await _marker_lines(marker) == 2  # ran twice (at-least-once) ...
    async with system.runtime.sessions() as session:
        rows = await session.scalar(
            select(func.count()).select_from(ExternalEvent).where(ExternalEvent.source == "test")
        )
    assert rows == 1  # ... with one side effect
    assert [r.status for r in await runs(system, "test-ingest")] == ["succeeded"]


async def _count_is(marker: Path, n: int) -> bool:
    return await _marker_lines(marker) >= n


async def test_sigterm_lets_the_running_job_finish(
    system: JobSystem, job_settings: Settings, tmp_path: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    """J6: SIGTERM during a job -> the worker finishes it within the grace period and exits;
    nothing is left running."""
    marker = tmp_path / "marker.txt"
    spawn.append(_start(job_settings, tmp_path, "a"))
    run_id = await system.queue.defer(
        "test-ingest", args={"key": "k2", "marker": str(marker), "sleep": 1.5}
    )
    assert run_id is not None
    await wait_for(lambda: _count_is(marker, 1), timeout=30)
    spawn[0].send_signal(signal.SIGTERM)
    assert spawn[0].wait(timeout=20) == 0
    run = await get_run(system, run_id)
    assert run.status == "succeeded"
    assert run.attempt == 1
    assert [r for r in await runs(system, "test-ingest") if r.status == "running"] == []


async def test_three_scheduling_workers_run_each_slot_once(
    system: JobSystem, job_settings: Settings, tmp_path: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    """J2 with real processes: three workers schedule a 1-second cron at once; one is killed
    half-way. Every second between the first and last slot is recorded exactly once (primary
    key) and has its run; every run succeeded."""
    for name in ("a", "b", "c"):
        spawn.append(
            _start(
                job_settings,
                tmp_path,
                name,
                SCHEDULE_PURGE_UPLOADS="* * * * * *",
                WORKER_SCHEDULE="1",
            )
        )
    await wait_for(lambda: _slot_count_at_least(system, 3), timeout=60)
    spawn[0].send_signal(signal.SIGKILL)
    count = await _slot_count(system)
    await wait_for(lambda: _slot_count_at_least(system, count + 4), timeout=30)
    for proc in spawn[1:]:
        proc.send_signal(signal.SIGTERM)
    for proc in spawn[1:]:
        assert proc.wait(timeout=30) == 0
    async with system.runtime.sessions() as session:
        slots = (
            await session.execute(
                select(ScheduleSlot.slot_at, ScheduleSlot.run_id)
                .where(ScheduleSlot.task_name == "test-cron")
                .order_by(ScheduleSlot.slot_at)
            )
        ).all()
    seconds = [int(s.slot_at.timestamp()) for s in slots]
    assert seconds == list(range(seconds[0], seconds[0] + len(seconds))), "a slot was missed"
    assert all(s.run_id for s in slots), "a slot was recorded without its run"
    await system.worker().run_until_idle()  # runs deferred just before the shutdown
    cron_runs = await runs(system, "test-cron")
    assert len(cron_runs) == len(slots)
    assert {r.status for r in cron_runs} == {"succeeded"}


async def _slot_count(system: JobSystem) -> int:
    async with system.runtime.sessions() as session:
        value = await session.scalar(
            select(func.count())
            .select_from(ScheduleSlot)
            .where(ScheduleSlot.task_name == "test-cron")
        )
    return int(value or 0)


async def _slot_count_at_least(system: JobSystem, n: int) -> bool:
    return await _slot_count(system) >= n
