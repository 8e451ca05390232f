"""The job port's contract, run against both engines (SQLite in-process, procrastinate on PG).

Rows J2–J4 of RELIABILITY_GOALS plus the run record (status, progress, 409 on a second start).
"""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.service.jobs import sample_tasks
from tests.service.jobs.conftest import fast_settings
from tests.service.jobs.helpers import finished, get_run, running, runs, wait_for
from virtuna.errors import Conflict
from virtuna.jobs.port import registry
from virtuna.jobs.schedule import Scheduler
from virtuna.models.jobs import JobRun, ScheduleSlot
from virtuna.worker.runtime import JobSystem


async def test_deferred_job_runs_and_records_result_and_progress(system: JobSystem) -> None:
    run_id = await system.queue.defer("test-echo", args={"n": 7})
    assert run_id is not None
    assert (await get_run(system, run_id)).status == "queued"
    async with running(system):
        await wait_for(lambda: finished(system, run_id))
    run = await get_run(system, run_id)
    assert run.status == "succeeded"
    assert run.result == {"args": {"n": 7}, "attempt": 1}
    assert (run.progress_done, run.progress_total, run.progress_message) == (2, 2, "done")
    assert run.started_at is not None
    assert run.finished_at is not None
    assert run.attempt == 1
    assert run.trigger == "defer"


async def test_queueing_lock_keeps_at_most_one_waiting(system: JobSystem) -> None:
    """J3: 50 deferrals with one queueing lock -> one queued job, 49 refusals."""
    ids = await asyncio.gather(
        *(
            system.queue.defer("test-echo", args={"i": i}, queueing_lock="trend-calc")
            for i in range(50)
        )
    )
    accepted = [i for i in ids if i is not None]
    assert len(accepted) == 1
    queued = [r for r in await runs(system, "test-echo") if r.status == "queued"]
    assert [r.id for r in queued] == accepted
    async with running(system):
        await wait_for(lambda: finished(system, accepted[0]))
    # Once it ran, the lock is free again.
    assert await system.queue.defer("test-echo", queueing_lock="trend-calc") is not None


async def test_lock_allows_one_running_at_a_time(system: JobSystem) -> None:
    """J3: jobs sharing a lock never overlap, even with spare worker capacity."""
    ids = [
        await system.queue.defer("test-slow", args={"key": "locked", "seconds": 0.3})
        for _ in range(4)
    ]
    async with running(system):
        for run_id in ids:
            assert run_id is not None
            await wait_for(functools.partial(finished, system, run_id))
    assert sample_tasks.PEAK["locked"] == 1
    assert len(sample_tasks.CALLS["locked"]) == 4


async def test_without_lock_jobs_run_concurrently(system: JobSystem) -> None:
    """The control for the test above: the same jobs without a lock do overlap."""
    ids = [
        await system.queue.defer("test-unlocked", args={"key": "free", "seconds": 0.5})
        for _ in range(3)
    ]
    async with running(system):
        for run_id in ids:
            assert run_id is not None
            await wait_for(functools.partial(finished, system, run_id))
    assert sample_tasks.PEAK["free"] >= 2


async def test_transient_failures_retry_with_exponential_backoff(system: JobSystem) -> None:
    """J4: fails twice, succeeds on attempt 3; waits 2 s then 4 s (±10 %)."""
    run_id = await system.queue.defer("test-flaky", args={"key": "flaky", "fail_times": 2})
    assert run_id is not None
    async with running(system):
        await wait_for(lambda: finished(system, run_id))
    run = await get_run(system, run_id)
    assert run.status == "succeeded"
    assert run.attempt == 3
    calls = sample_tasks.CALLS["flaky"]
    waits = [b - a for a, b in zip(calls, calls[1:], strict=False)]
    assert len(waits) == 2
    assert waits[0] == pytest.approx(2.0, rel=0.1)
    assert waits[1] == pytest.approx(4.0, rel=0.1)


async def test_permanent_failure_ends_failed_after_max_attempts(system: JobSystem) -> None:
    """J4: a job that always fails stops at max_attempts, failed, with its error visible."""
    run_id = await system.queue.defer("test-broken", args={"key": "broken"})
    assert run_id is not None
    async with running(system):
        await wait_for(lambda: finished(system, run_id))
    run = await get_run(system, run_id)
    assert run.status == "failed"
    assert run.attempt == 2
    assert run.error is not None
    assert "always broken" in run.error
    assert len(sample_tasks.CALLS["broken"]) == 2


async def test_permanent_failure_exception_is_not_retried(system: JobSystem) -> None:
    run_id = await system.queue.defer("test-broken", args={"key": "perm", "permanent": True})
    assert run_id is not None
    async with running(system):
        await wait_for(lambda: finished(system, run_id))
    run = await get_run(system, run_id)
    assert run.status == "failed"
    assert run.attempt == 1
    assert len(sample_tasks.CALLS["perm"]) == 1


async def test_second_start_while_active_is_a_conflict(system: JobSystem) -> None:
    """409 semantics: concurrent starts of one job -> exactly one run, the rest Conflict."""
    results = await asyncio.gather(
        *(system.queue.start("test-echo", trigger="api") for _ in range(10)),
        return_exceptions=True,
    )
    started = [r for r in results if isinstance(r, JobRun)]
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(started) == 1, results
    assert len(conflicts) == 9, results
    async with running(system):
        await wait_for(lambda: finished(system, started[0].id))
    again = await system.queue.start("test-echo", trigger="cli")
    assert again.id != started[0].id
    assert again.trigger == "cli"


async def test_deferred_with_schedule_at_waits_until_then(system: JobSystem) -> None:
    when = datetime.now(UTC) + timedelta(seconds=1.0)
    run_id = await system.queue.defer("test-echo", schedule_at=when)
    assert run_id is not None
    async with running(system):
        await asyncio.sleep(0.5)
        assert (await get_run(system, run_id)).status == "queued"
        await wait_for(lambda: finished(system, run_id))
    run = await get_run(system, run_id)
    assert run.started_at is not None
    assert run.started_at >= when


async def test_three_schedulers_defer_each_slot_exactly_once(system: JobSystem) -> None:
    """J2: three schedulers over 20 one-second slots -> 20 slot rows and 20 runs; one of them
    dropping out half-way leaves no slot missed."""
    settings = fast_settings(
        system.settings.resolved_database_url,
        system.settings.data_dir,
        SCHEDULE_PURGE_UPLOADS="* * * * * *",
    )
    spec = registry.get("test-cron")
    assert spec is not None
    clock = [datetime(2030, 1, 1, tzinfo=UTC)]
    schedulers = [
        Scheduler(system.queue, settings, [spec], clock=lambda: clock[0]) for _ in range(3)
    ]
    worker = system.worker()
    deferred = 0
    for step in range(20):
        clock[0] += timedelta(seconds=1)
        alive = schedulers if step < 10 else schedulers[1:]  # one "killed" mid-run
        for batch in await asyncio.gather(*(s.tick() for s in alive)):
            deferred += len(batch)
        await worker.run_until_idle()
    async with system.runtime.sessions() as session:
        slots = await session.scalar(
            select(func.count())
            .select_from(ScheduleSlot)
            .where(ScheduleSlot.task_name == "test-cron")
        )
        missing_run = await session.scalar(
            select(func.count())
            .select_from(ScheduleSlot)
            .where(ScheduleSlot.task_name == "test-cron", ScheduleSlot.run_id.is_(None))
        )
    # The first tick only catches up the latest slot, so 20 ticks cover 20 slots.
    assert slots == 20
    assert missing_run == 0
    assert deferred == 20
    scheduled = await runs(system, "test-cron")
    assert len(scheduled) == 20
    assert {r.status for r in scheduled} == {"succeeded"}
    assert {r.trigger for r in scheduled} == {"schedule"}
    assert len(sample_tasks.CALLS["cron"]) == 20
