"""The periodic scheduler: one per worker process, any number at once.

Every scheduler computes the same cron slots and tries to record each one; the primary key
on ``(task_name, slot_at)`` lets exactly one of them win, in the same transaction as the run
it defers. We use this on both engines rather than procrastinate's own periodic deferrer,
whose slot record and job can part ways (its open issue #1495) and whose deferrer can die
silently as a side task (#1463): here a scheduler that dies loses nothing another one (or
its restart, within the catch-up window) will not pick up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import structlog
from croniter import croniter

from virtuna.config import Settings
from virtuna.jobs.port import TaskSpec
from virtuna.jobs.queue import DbQueue
from virtuna.models.jobs import JobRun

log = structlog.get_logger("virtuna.jobs.schedule")
_TINY = timedelta(microseconds=1)


def cron_for(settings: Settings, spec: TaskSpec) -> str | None:
    """The task's cron from its declared setting, else from ``schedule_<task_name>``."""
    name = spec.schedule_setting or "schedule_" + spec.name.replace("-", "_")
    value = getattr(settings, name, None)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def due_slots(
    cron: str, *, since: datetime | None, now: datetime, catchup_seconds: float
) -> list[datetime]:
    """Slots in ``(since, now]``; on the first look only the latest, if recent enough."""
    if since is None:
        latest: datetime = croniter(cron, now + _TINY).get_prev(datetime)
        return [latest] if (now - latest).total_seconds() <= catchup_seconds else []
    slots: list[datetime] = []
    it = croniter(cron, since)
    while (slot := it.get_next(datetime)) <= now:
        slots.append(slot)
    return slots


def next_slot(cron: str, now: datetime) -> datetime:
    slot: datetime = croniter(cron, now).get_next(datetime)
    return slot


class Scheduler:
    def __init__(
        self,
        queue: DbQueue,
        settings: Settings,
        specs: Sequence[TaskSpec],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.queue = queue
        self.settings = settings
        self.clock = clock
        self.crons = {s.name: (s, c) for s in specs if (c := cron_for(settings, s)) is not None}
        self._since: datetime | None = None

    async def tick(self) -> list[JobRun]:
        now = self.clock()
        deferred: list[JobRun] = []
        for spec, cron in self.crons.values():
            slots = due_slots(
                cron,
                since=self._since,
                now=now,
                catchup_seconds=self.settings.jobs_schedule_catchup_seconds,
            )
            for slot in slots:
                run = await self.queue.schedule_slot(spec, slot)
                if run is not None:
                    log.info("job.scheduled", job=spec.name, run_id=run.id, slot=slot.isoformat())
                    deferred.append(run)
        self._since = now
        return deferred

    def seconds_to_next(self) -> float:
        now = self.clock()
        if not self.crons:
            return 60.0
        soonest = min(next_slot(cron, now) for _, cron in self.crons.values())
        # Wake just after the slot; never sleep so long that a clock jump goes unnoticed.
        return min(max((soonest - now).total_seconds() + 0.05, 0.05), 60.0)

    async def run(self, stop: asyncio.Event) -> None:
        if not self.crons:
            log.info("scheduler.idle", reason="no scheduled jobs")
            return
        log.info("scheduler.started", jobs=sorted(self.crons))
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:  # a database hiccup must not end scheduling for good
                log.exception("scheduler.tick_failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.seconds_to_next())
            except TimeoutError:
                pass
