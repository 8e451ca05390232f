"""Scraping jobs: start the trending scrape; ingest a finished run (deferred by the webhook);
re-scrape stale creator profiles."""

from __future__ import annotations

import uuid
from typing import Any

from virtuna.jobs import JobContext, RetryPolicy, task
from virtuna.kit.db import unit_of_work
from virtuna.models.base import utcnow
from virtuna.videos import creators, scraping

INGEST_TASK = "ingest-apify-run"


@task(
    "scrape-trending",
    schedule_setting="schedule_scrape_trending",
    retry=RetryPolicy(max_attempts=3, base_delay_seconds=60.0),
    lock="scrape-trending",
)
async def scrape_trending(ctx: JobContext) -> dict[str, Any]:
    """Start the scraper run; its webhook defers the ingest when it finishes."""
    async with unit_of_work(ctx.sessions) as session:
        row = await scraping.start_trending(session, ctx.settings, job_id=ctx.job_id)
        return {"run_id": row.run_id, "actor_id": row.actor_id, "status": row.status}


@task(
    INGEST_TASK,
    # A run still going when the webhook fired is retried later (RunNotFinished).
    retry=RetryPolicy(max_attempts=6, base_delay_seconds=30.0, factor=2.0),
)
async def ingest_apify_run(
    ctx: JobContext, run_id: str, event_id: str | None = None
) -> dict[str, Any]:
    """Re-fetch the run from Apify, record its status and ingest every dataset item once."""
    return await scraping.ingest_run(
        ctx.sessions,
        ctx.settings,
        run_id=run_id,
        event_id=uuid.UUID(event_id) if event_id else None,
        progress=ctx.report,
    )


@task(
    creators.REFRESH_TASK,
    schedule_setting="schedule_refresh_competitors",
    retry=RetryPolicy(max_attempts=3, base_delay_seconds=60.0),
    lock=creators.REFRESH_TASK,
)
async def refresh_competitors(ctx: JobContext, handles: list[str] | None = None) -> dict[str, Any]:
    """Re-scrape the profiles of tracked (or the given) creators that are unknown or stale."""
    return await creators.refresh_profiles(
        ctx.sessions, ctx.settings, job_id=ctx.job_id, now=utcnow(), handles=handles
    )
