"""Subscriptions (from Whop) and per-period usage counters for analysis quotas."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from virtuna.models.base import Base, IdMixin, TimestampMixin, UTCDateTime, utcnow


class Subscription(IdMixin, TimestampMixin, Base):
    """A user's paid plan as the payment provider last told us (one per user)."""

    __tablename__ = "subscriptions"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True, nullable=False
    )
    provider: Mapped[str] = mapped_column(String(16), nullable=False, default="whop")
    membership_id: Mapped[str | None] = mapped_column(String(100), unique=True, nullable=True)
    external_user_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    product_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    plan: Mapped[str] = mapped_column(String(32), nullable=False, default="free")
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # active|past_due|cancelled
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Envelope time of the newest event applied: older deliveries arriving late are ignored.
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )


class UsageCounter(Base):
    """Successful analyses per user per quota period, incremented atomically."""

    __tablename__ = "usage_counters"
    __table_args__ = (PrimaryKeyConstraint("user_id", "period_start"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    period_start: Mapped[date] = mapped_column(Date, nullable=False)
    used: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
