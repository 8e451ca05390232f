"""Billing jobs: process a stored Whop delivery; reconcile subscriptions with Whop."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from virtuna.billing import service
from virtuna.jobs import JobContext, PermanentFailure, RetryPolicy, task
from virtuna.kit.db import unit_of_work


@task("process-whop-event", retry=RetryPolicy(max_attempts=5, base_delay_seconds=10.0))
async def process_whop_event(ctx: JobContext, event_id: str | None = None) -> dict[str, Any]:
    """One stored delivery; without an id, every unhandled one (repairs lost deferrals)."""
    if event_id is None:
        async with unit_of_work(ctx.sessions) as session:
            pending = await service.unhandled_whop_events(session)
    else:
        try:
            pending = [uuid.UUID(event_id)]
        except ValueError as exc:
            raise PermanentFailure(f"not an event id: {event_id!r}") from exc
    outcomes: dict[str, int] = {}
    for ident in pending:
        async with unit_of_work(ctx.sessions) as session:
            outcome = await service.process_whop_event(
                session, settings=ctx.settings, event_id=ident
            )
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return {"events": len(pending), "outcomes": outcomes}


@task("sync-whop", schedule_setting="schedule_sync_whop", lock="whop")
async def sync_whop(ctx: JobContext) -> dict[str, Any]:
    """One membership at a time; HTTP happens outside any transaction."""
    if ctx.settings.whop_api_key is None:
        return {"skipped": "WHOP_API_KEY is not set"}
    async with unit_of_work(ctx.sessions) as session:
        pending = await service.memberships_to_sync(session)
    synced, errors = 0, []
    for done, (subscription_id, membership_id) in enumerate(pending, start=1):
        try:
            membership = await service.fetch_membership(
                ctx.http, settings=ctx.settings, membership_id=membership_id
            )
        except httpx.HTTPError as exc:
            errors.append({"membership_id": membership_id, "error": type(exc).__name__})
            continue
        async with unit_of_work(ctx.sessions) as session:
            await service.apply_membership(
                session,
                settings=ctx.settings,
                subscription_id=subscription_id,
                membership=membership,
            )
        synced += 1
        await ctx.report(done, len(pending), f"synced {membership_id}")
    return {"synced": synced, "total": len(pending), "errors": errors}
