"""The LLM cost ledger: one row per upstream attempt (failed ones too) and per breaker skip."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from virtuna.models.base import Base, IdMixin, TimestampMixin, UTCDateTime


class LLMCall(IdMixin, TimestampMixin, Base):
    __tablename__ = "llm_calls"
    __table_args__ = (
        # A replayed analysis cannot bill the same attempt twice.
        UniqueConstraint("analysis_id", "role", "attempt"),
        Index("ix_llm_calls_started_at", "started_at"),
    )

    # SET NULL: spending stays on the books when a user (and their analyses) is deleted.
    analysis_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("analyses.id", ondelete="SET NULL"), nullable=True, index=True
    )
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    provider: Mapped[str] = mapped_column(String(32), nullable=False)
    model: Mapped[str] = mapped_column(String(128), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)  # content|reasoning|rules
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    prompt_version: Mapped[str] = mapped_column(String(64), nullable=False)
    # ok | timeout | http_error | connection_error | bad_output | breaker_open
    outcome: Mapped[str] = mapped_column(String(24), nullable=False)
    error_class: Mapped[str | None] = mapped_column(String(100), nullable=True)
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    input_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cached_input_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Fractional cents (float64: ~15 significant digits, far below a millionth of a cent).
    cost_cents: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    latency_ms: Mapped[float] = mapped_column(Float, nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
