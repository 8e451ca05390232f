"""J5: procrastinate #1495's scenario on both engines — a scheduler killed between recording
a cron slot and creating its job — must not lose the slot's run nor the next slot.

The kill is injected at the two points where it can happen: inside the slot's transaction
(after the slot insert, before the run insert) and after its commit but before the engine
received the job (procrastinate's queue; a no-op hand-over on SQLite). Restarted schedulers
start from scratch (no memory of the last tick), as a restarted process would.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tests.service.jobs import sample_tasks
from tests.service.jobs.conftest import fast_settings
from tests.service.jobs.helpers import runs
from virtuna.jobs import service
from virtuna.jobs.port import registry
from virtuna.jobs.schedule import Scheduler
from virtuna.kit.db import unit_of_work
from virtuna.models.jobs import JobRun, ScheduleSlot
from virtuna.worker.runtime import JobSystem


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing on the way catches it."""


def _scheduler(system: JobSystem, clock: list[datetime]) -> Scheduler:
    settings = fast_settings(
        system.settings.resolved_database_url,
        system.settings.data_dir,
        SCHEDULE_PURGE_UPLOADS="* * * * * *",
        VIRTUNA_JOBS_SCHEDULE_CATCHUP_SECONDS=30,
    )
    spec = registry.get("test-cron")
    assert spec is not None
    return Scheduler(system.queue, settings, [spec], clock=lambda: clock[0])


def _kill_once(original: Callable[..., Any]) -> Callable[..., Any]:
    state = {"armed": True}

    async def dying(*args: Any, **kwargs: Any) -> Any:
        if state["armed"]:
            state["armed"] = False
            raise Killed
        return await original(*args, **kwargs)

    return dying


async def _slot_rows(system: JobSystem) -> dict[datetime, str | None]:
    async with system.runtime.sessions() as session:
        rows = await session.execute(
            select(ScheduleSlot.slot_at, ScheduleSlot.run_id).where(
                ScheduleSlot.task_name == "test-cron"
            )
        )
        return {slot.replace(tzinfo=UTC): run for slot, run in rows.tuples()}


async def test_killed_between_slot_and_job_creation_next_slot_still_runs(
    system: JobSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [datetime(2030, 1, 1, 12, 0, 0, 500_000, tzinfo=UTC)]
    s1 = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)

    # 1. Killed inside the slot's transaction: the slot row must not survive without a run.
    monkeypatch.setattr(service, "create_run", _kill_once(service.create_run))
    with pytest.raises(Killed):
        await _scheduler(system, clock).tick()
    assert await _slot_rows(system) == {}

    # Restart: the slot it died on is caught up, and the next slot runs too.
    restarted = _scheduler(system, clock)
    assert len(await restarted.tick()) == 1
    clock[0] += timedelta(seconds=1)
    assert len(await restarted.tick()) == 1

    # 2. Killed after the commit, before the engine got the job (#1495's exact shape).
    monkeypatch.setattr(system.queue, "handoff", _kill_once(system.queue.handoff))
    clock[0] += timedelta(seconds=1)
    with pytest.raises(Killed):
        await restarted.tick()
    again = _scheduler(system, clock)  # restarted once more
    assert await again.tick() == []  # that slot is recorded with its run: not deferred twice
    # The worker's sweep hands over runs committed but never given to the engine.
    async with unit_of_work(system.runtime.sessions) as session:
        await session.execute(
            update(JobRun)
            .where(JobRun.task_name == "test-cron")
            .values(created_at=datetime.now(UTC) - timedelta(minutes=5))
        )
    worker = system.worker()
    await worker.sweep()
    clock[0] += timedelta(seconds=1)
    assert len(await again.tick()) == 1  # the next slot after the second kill
    await worker.run_until_idle()

    slots = await _slot_rows(system)
    assert sorted(slots) == [s1 + timedelta(seconds=i) for i in range(4)]
    assert all(run_id is not None for run_id in slots.values())
    scheduled = await runs(system, "test-cron")
    assert sorted(r.id for r in scheduled) == sorted(str(r) for r in slots.values())
    assert {r.status for r in scheduled} == {"succeeded"}
    assert len(sample_tasks.CALLS["cron"]) == 4  # each slot ran exactly once
    async with system.runtime.sessions() as session:
        extra = await session.scalar(
            select(func.count()).select_from(JobRun).where(JobRun.task_name != "test-cron")
        )
    assert extra == 0
