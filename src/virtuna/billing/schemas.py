"""API shapes for plans and quotas."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class QuotaRead(BaseModel):
    plan: str
    limit: int | None = Field(description="Analyses per UTC day; null = unlimited.")
    used: int
    left: int | None
    resets_at: datetime
    rate_limit_per_minute: int | None = Field(description="Scoring requests per minute.")
