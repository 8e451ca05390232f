"""API shapes of the cost report."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

GroupBy = Literal["day", "provider", "model"]


class CostRow(BaseModel):
    day: str | None = None  # YYYY-MM-DD (UTC) when grouped by day
    provider: str | None = None
    model: str | None = None
    calls: int  # upstream attempts, failed ones included (breaker skips are not attempts)
    ok_calls: int
    input_tokens: int
    output_tokens: int
    cost_cents: float  # fractional cents, never rounded to whole cents


class CostReport(BaseModel):
    since: datetime
    until: datetime
    group_by: list[GroupBy]
    total_cost_cents: float
    total_calls: int
    rows: list[CostRow]
