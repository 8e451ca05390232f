"""A queue that only records what was deferred: for tests and for dry runs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class Deferred:
    task_name: str
    args: dict[str, Any]
    queueing_lock: str | None
    lock: str | None
    schedule_at: datetime | None
    job_id: str


@dataclass
class RecordingQueue:
    deferred: list[Deferred] = field(default_factory=list)

    async def defer(
        self,
        task_name: str,
        *,
        args: dict[str, Any] | None = None,
        queueing_lock: str | None = None,
        lock: str | None = None,
        schedule_at: datetime | None = None,
    ) -> str | None:
        if queueing_lock is not None and any(
            d.queueing_lock == queueing_lock for d in self.deferred
        ):
            return None
        job_id = uuid.uuid4().hex
        self.deferred.append(
            Deferred(task_name, dict(args or {}), queueing_lock, lock, schedule_at, job_id)
        )
        return job_id
