"""API shapes for job runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from virtuna.models.jobs import JobRun


class Progress(BaseModel):
    done: int
    total: int | None
    message: str | None


class JobRunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="Run id (stable across retries of this run).")
    job: str
    trigger: str = Field(description="schedule | api | cli | defer")
    status: str = Field(description="queued | running | succeeded | failed | cancelled")
    attempt: int
    max_attempts: int
    progress: Progress
    error: str | None
    result: dict[str, Any] | None
    created_at: datetime
    scheduled_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, run: JobRun) -> JobRunRead:
        return cls(
            id=run.id,
            job=run.task_name,
            trigger=run.trigger,
            status=run.status,
            attempt=run.attempt,
            max_attempts=run.max_attempts,
            progress=Progress(
                done=run.progress_done, total=run.progress_total, message=run.progress_message
            ),
            error=run.error,
            result=run.result,
            created_at=run.created_at,
            scheduled_at=run.scheduled_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
        )


class JobInfo(BaseModel):
    name: str
    schedule: str | None = Field(description="Cron expression (UTC), or null for on demand.")


class JobRunList(BaseModel):
    jobs: list[JobInfo]
    runs: list[JobRunRead]
