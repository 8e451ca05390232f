"""``process-webhook-events`` (on demand): re-enqueue stored deliveries never handled.

A receiver stores the delivery, commits, then defers its job; a crash between the two (or a
lost deferral) leaves an unhandled ``external_events`` row. This job finds those rows and
defers the same job the receiver would have, under the same queueing lock, so an event
already waiting is not queued twice; the handlers themselves are idempotent.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from virtuna.jobs import JobContext, task
from virtuna.kit.db import READ_ONLY
from virtuna.models import ExternalEvent
from virtuna.models.base import utcnow
from virtuna.videos.tasks import INGEST_TASK
from virtuna.webhooks.whop import PROCESS_TASK

TASK = "process-webhook-events"
# Younger deliveries are probably being deferred by their receiver right now.
GRACE = timedelta(seconds=60)
BATCH = 1000


def _apify_run_id(event: ExternalEvent) -> str | None:
    data = event.payload.get("eventData") if isinstance(event.payload, dict) else None
    run_id = data.get("actorRunId") if isinstance(data, dict) else None
    if isinstance(run_id, str) and run_id:
        return run_id
    _, _, tail = event.external_id.partition(":")
    return tail or None


async def _defer(ctx: JobContext, event: ExternalEvent) -> str:
    if event.source == "whop":
        job = await ctx.jobs.defer(
            PROCESS_TASK, args={"event_id": str(event.id)}, queueing_lock=f"whop:{event.id}"
        )
        return "deferred" if job else "already_queued"
    if event.source == "apify":
        run_id = _apify_run_id(event)
        if run_id is None:
            return "unparseable"
        job = await ctx.jobs.defer(
            INGEST_TASK,
            args={"run_id": run_id, "event_id": str(event.id)},
            queueing_lock=f"apify-ingest:{event.external_id}",
            lock=f"apify-run:{run_id}",
        )
        return "deferred" if job else "already_queued"
    return "unknown_source"


@task(TASK)
async def process_webhook_events(ctx: JobContext, source: str | None = None) -> dict[str, Any]:
    """Defer the handler of every unhandled delivery older than a minute (one source or all)."""
    query = (
        select(ExternalEvent)
        .where(ExternalEvent.handled_at.is_(None), ExternalEvent.created_at < utcnow() - GRACE)
        .order_by(ExternalEvent.created_at)
        .limit(BATCH)
    )
    if source is not None:
        query = query.where(ExternalEvent.source == source)
    async with ctx.sessions() as session:
        await session.connection(execution_options=READ_ONLY)
        events = list(await session.scalars(query))
    outcomes: dict[str, int] = {}
    for done, event in enumerate(events, start=1):
        outcome = await _defer(ctx, event)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        await ctx.report(done, len(events), f"{event.source} {event.external_id}: {outcome}")
    return {"events": len(events), "outcomes": outcomes}
