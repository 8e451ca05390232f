"""Trend jobs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from virtuna.jobs import JobContext, RetryPolicy, task
from virtuna.kit.db import unit_of_work
from virtuna.trends.calculate import calculate_trends


@task(
    "calculate-trends",
    schedule_setting="schedule_calculate_trends",
    retry=RetryPolicy(max_attempts=3, base_delay_seconds=60.0),
    lock="trends",
)
async def calculate_trends_task(ctx: JobContext, as_of: str | None = None) -> dict[str, Any]:
    """Compute one trend snapshot (a no-op when nothing changed since the last one)."""
    settings = ctx.settings
    async with unit_of_work(ctx.sessions) as session:
        result = await calculate_trends(
            session,
            windows=settings.trends_windows_days,
            top_n=settings.trends_top_n,
            as_of=datetime.fromisoformat(as_of) if as_of else None,
            retention=timedelta(days=settings.trends_retention_days),
        )
    return result.as_dict()
