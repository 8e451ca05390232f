"""Real outcomes of analysed drafts, scheduled follow-up scrapes, and versioned calibrators.

An outcome is a *snapshot*: the post's counts as observed at one time, by its owner
(``source="user"``) or by the follow-up scrape (``source="scrape"``). Several snapshots per
analysis are normal (48 h, 7 days, a late report); calibration joins the one at its horizon.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from virtuna.models.analyses import JSONType
from virtuna.models.base import Base, IdMixin, TimestampMixin, UTCDateTime


class Outcome(IdMixin, TimestampMixin, Base):
    __tablename__ = "outcomes"
    # One snapshot per (analysis, observed_at): a retried report is the same row.
    __table_args__ = (
        UniqueConstraint("analysis_id", "observed_at"),
        Index("ix_outcomes_user_id_observed_at", "user_id", "observed_at"),
    )

    analysis_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("analyses.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    source: Mapped[str] = mapped_column(String(16), nullable=False)  # user | scrape
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    posted_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    views: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    likes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    comments: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    shares: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    saves: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    avg_watch_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    completion_rate: Mapped[float | None] = mapped_column(Float, nullable=True)  # 0-1


class OutcomeFollowUp(IdMixin, TimestampMixin, Base):
    """One scheduled scrape of a posted URL; the unique key is what prevents a second one."""

    __tablename__ = "outcome_follow_ups"
    __table_args__ = (
        UniqueConstraint("analysis_id", "checkpoint"),
        Index("ix_outcome_follow_ups_status_due_at", "status", "due_at"),
    )

    analysis_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("analyses.id", ondelete="CASCADE"), nullable=False
    )
    checkpoint: Mapped[str] = mapped_column(String(8), nullable=False)  # 48h | 7d
    posted_url: Mapped[str] = mapped_column(String(2048), nullable=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # pending → running (claimed) → done | failed; never back to pending once scraped.
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # When the current claim was taken: a "running" row whose claim is older than the stale
    # threshold belonged to a worker that died, and may be claimed again.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class Calibrator(IdMixin, TimestampMixin, Base):
    """Fitted calibrator parameters: versioned rows, read by every serving process."""

    __tablename__ = "calibrators"
    __table_args__ = (
        Index("ix_calibrators_active_engine_version", "active", "engine_version", "input_mode"),
    )

    version: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    engine_version: Mapped[str] = mapped_column(String(32), nullable=False)
    # The bundle whose probabilities it was fitted on: another bundle is not calibrated by it.
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    input_mode: Mapped[str] = mapped_column(String(16), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # temperature | isotonic
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    horizon_days: Mapped[int] = mapped_column(Integer, nullable=False)
    fit_rows: Mapped[int] = mapped_column(Integer, nullable=False)
    holdout_rows: Mapped[int] = mapped_column(Integer, nullable=False)
    # Held-out NLL/ECE before and after: why it was (or was not) activated.
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CalibrationReport(IdMixin, TimestampMixin, Base):
    """A stored calibration report (one per audit run), with its reliability bins."""

    __tablename__ = "calibration_reports"

    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # audit
    horizon_days: Mapped[int] = mapped_column(Integer, nullable=False)
    report: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
