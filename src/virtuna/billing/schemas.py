"""API shapes for plans and quotas."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class QuotaRead(BaseModel):
    plan: str
    limit: int | None = Field(description="Analyses per UTC day; null = unlimited.")
    used: int
    left: int | None
    resets_at: datetime
    rate_limit_per_minute: int | None = Field(description="Scoring requests per minute.")


class ProfileRead(BaseModel):
    """The caller: who they are, their plan, and where they stand against its quota."""

    id: uuid.UUID
    email: str
    plan: str
    is_admin: bool
    created_at: datetime
    quota: QuotaRead
