"""Scored drafts: every served prediction with its full result and what produced it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from virtuna.models.base import Base, IdMixin, TimestampMixin, UTCDateTime

JSONType = JSON().with_variant(JSONB(), "postgresql")


class Analysis(IdMixin, TimestampMixin, Base):
    __tablename__ = "analyses"
    __table_args__ = (
        Index("ix_analyses_user_id_created_at", "user_id", "created_at", "id"),
        Index("ix_analyses_created_at", "created_at"),  # dashboard windows (migration 0013)
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    input_mode: Mapped[str] = mapped_column(String(16), nullable=False)
    content_type: Mapped[str] = mapped_column(String(16), nullable=False)
    content_text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    tiktok_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    niche: Mapped[str | None] = mapped_column(String(100), nullable=True)
    creator_handle: Mapped[str | None] = mapped_column(String(64), nullable=True)
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    overall_score: Mapped[float] = mapped_column(Float, nullable=False)
    # The score before any calibrator: what calibration is later fitted on.
    raw_score: Mapped[float] = mapped_column(Float, nullable=False)
    tier: Mapped[int] = mapped_column(Integer, nullable=False)
    tier_probabilities: Mapped[list[float] | None] = mapped_column(JSONType, nullable=True)
    ml_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    confidence: Mapped[float] = mapped_column(Float, nullable=False)
    confidence_label: Mapped[str] = mapped_column(String(8), nullable=False)
    is_calibrated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # The model's tier probabilities before any calibrator (calibrators are fitted on these,
    # never on already-calibrated ones), and the calibrator version applied (None = none).
    raw_tier_probabilities: Mapped[list[float] | None] = mapped_column(JSONType, nullable=True)
    calibrator_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    engine_version: Mapped[str] = mapped_column(String(32), nullable=False)
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    latency_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    cost_cents: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    result: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    feature_vector: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)


class Rule(IdMixin, TimestampMixin, Base):
    """The rule library; seeded from the packaged versioned data file."""

    __tablename__ = "rules"

    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    category: Mapped[str] = mapped_column(String(32), nullable=False)
    platform: Mapped[str | None] = mapped_column(String(32), nullable=True)
    tier: Mapped[str] = mapped_column(String(16), nullable=False)  # regex | semantic | video
    pattern: Mapped[str | None] = mapped_column(Text, nullable=True)
    evaluation_prompt: Mapped[str | None] = mapped_column(Text, nullable=True)
    weight: Mapped[float] = mapped_column(Float, nullable=False, default=1.0)
    max_score: Mapped[float] = mapped_column(Float, nullable=False, default=10.0)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # Measured lift on recent scraped outcomes (validate-rules job); null until measured.
    lift: Mapped[float | None] = mapped_column(Float, nullable=True)
    source_version: Mapped[str] = mapped_column(String(32), nullable=False)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
