"""Job runs and cron slots: the record of every background run, and the queue on SQLite.

On SQLite ``job_runs`` *is* the queue (claimed with ``UPDATE … RETURNING`` under
``BEGIN IMMEDIATE``); on PostgreSQL procrastinate owns the queue and ``job_runs`` is the
record the API and CLI read. Either way the partial unique indexes carry the engine's
semantics into the database: one *queued* run per ``queueing_lock``, one *running* run per
``lock``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, PrimaryKeyConstraint, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from virtuna.models.analyses import JSONType
from virtuna.models.base import Base, UTCDateTime, utcnow

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
)
RUN_STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
ACTIVE_STATUSES = (QUEUED, RUNNING)


class JobRun(Base):
    __tablename__ = "job_runs"
    __table_args__ = (
        Index(
            "uq_job_runs_queueing_lock_queued",
            "queueing_lock",
            unique=True,
            sqlite_where=text("status = 'queued'"),
            postgresql_where=text("status = 'queued'"),
        ),
        Index(
            "uq_job_runs_lock_running",
            "lock",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
        Index("ix_job_runs_status_scheduled_at", "status", "scheduled_at"),
        Index("ix_job_runs_task_name_created_at", "task_name", "created_at"),
    )

    # A uuid4 hex: shown to users as the run id, stable across retries of the same run.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    task_name: Mapped[str] = mapped_column(String(100), nullable=False)
    args: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    trigger: Mapped[str] = mapped_column(String(16), nullable=False)  # schedule|api|cli|defer
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=QUEUED)
    queueing_lock: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lock: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Not eligible before this instant (retry backoff, deferred schedule_at).
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    progress_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    progress_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    progress_message: Mapped[str | None] = mapped_column(String(500), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    worker_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # procrastinate's job id on PostgreSQL; NULL there means "not handed to the engine yet".
    engine_job_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ScheduleSlot(Base):
    """One row per (task, cron slot): the primary key is what makes a slot run once."""

    __tablename__ = "job_schedule_slots"
    __table_args__ = (PrimaryKeyConstraint("task_name", "slot_at"),)

    task_name: Mapped[str] = mapped_column(String(100), nullable=False)
    slot_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Set in the transaction that records the slot (nullable only for the insert-then-link).
    run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
