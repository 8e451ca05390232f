"""Scraping use cases: start the trending scrape, and ingest a finished run's dataset.

Both are safe to repeat (jobs are at-least-once): a start job that already started its run
returns that run, and a run whose dataset was ingested is not ingested again. The ingest
re-reads the run from the Apify API (the webhook payload is untrusted) and commits one
transaction per dataset page, so a crash mid-way resumes with at most one page redone —
and redoing a page changes nothing, since ingest is idempotent.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from virtuna.config import Settings
from virtuna.kit.db import unit_of_work
from virtuna.models import ApifyRun, ExternalEvent
from virtuna.models.base import utcnow
from virtuna.videos import apify, repository
from virtuna.videos.apify import RunInfo
from virtuna.videos.schemas import ScraperItem
from virtuna.videos.service import IngestReport, ingest_batch, validate_items

log = structlog.get_logger("virtuna.scraping")
Progress = Callable[[int, int | None, str | None], Awaitable[None]]


class RunNotFinished(Exception):
    """The run is still going (a retry later will find it finished)."""


async def _run_row(session: AsyncSession, run_id: str) -> ApifyRun | None:
    row: ApifyRun | None = await session.scalar(select(ApifyRun).where(ApifyRun.run_id == run_id))
    return row


async def record_run(
    session: AsyncSession, run: RunInfo, *, run_input: dict[str, Any], job_id: str | None
) -> ApifyRun:
    """Create or refresh the row for ``run`` with its latest status."""
    row = await _run_row(session, run.id)
    if row is None:
        row = ApifyRun(run_id=run.id, actor_id=run.actor_id, input=run_input, job_id=job_id)
        session.add(row)
    row.status = run.status
    row.dataset_id = run.dataset_id
    row.started_at = run.started_at
    row.finished_at = run.finished_at
    row.error = run.status_message if run.status not in ("SUCCEEDED", "READY", "RUNNING") else None
    row.updated_at = utcnow()
    await session.flush()
    return row


async def start_trending(session: AsyncSession, settings: Settings, *, job_id: str) -> ApifyRun:
    existing: ApifyRun | None = await session.scalar(
        select(ApifyRun).where(ApifyRun.job_id == job_id)
    )
    if existing is not None and job_id:
        return existing
    stale = await latest_scrape_age(session)
    if stale is not None and stale.total_seconds() > 24 * 3600:
        log.warning("scrape.data_stale", hours=round(stale.total_seconds() / 3600, 1))
    run = await apify.start_trending_run(
        settings, idempotency_key=f"virtuna-{job_id or uuid.uuid4()}"
    )
    row = await record_run(
        session, run, run_input=apify.trending_input(settings), job_id=job_id or None
    )
    log.info("scrape.started", run_id=run.id, actor_id=run.actor_id, status=run.status)
    return row


async def latest_scrape_age(session: AsyncSession) -> timedelta | None:
    last = await repository.latest_scrape(session)
    return utcnow() - last if last is not None else None


async def _ingest_pages(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    run: RunInfo,
    progress: Progress | None,
) -> tuple[IngestReport, int]:
    report, seen = IngestReport(), 0
    assert run.dataset_id is not None
    scraped_at = run.finished_at or utcnow()
    async for page in apify.dataset_pages(settings, run.dataset_id):
        checked = list(validate_items(enumerate(page, start=seen + 1)))
        valid = [item for _, item in checked if isinstance(item, ScraperItem)]
        async with unit_of_work(sessions) as session:
            part = await ingest_batch(
                session, valid, source="apify", default_scraped_at=scraped_at, run_id=run.id
            )
        part.rejected = len(checked) - len(valid)
        part.errors = [{"item": i, "reason": r} for i, r in checked if isinstance(r, str)]
        report.add(part)
        seen += len(page)
        if progress is not None:
            await progress(seen, None, f"ingested {seen} items of run {run.id}")
    return report, seen


async def ingest_run(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    run_id: str,
    event_id: uuid.UUID | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Re-fetch the run, record its status, ingest its whole dataset once, mark the event."""
    async with unit_of_work(sessions) as session:
        row = await _run_row(session, run_id)
        if row is not None and row.ingested_at is not None:
            await _mark_event(session, event_id, error=None)
            return {"run_id": run_id, "status": row.status, "skipped": "already ingested"}
    run = await apify.get_run(settings, run_id)
    if run is None:
        async with unit_of_work(sessions) as session:
            await _mark_event(session, event_id, error="run not found on Apify")
        log.warning("scrape.run_unknown", run_id=run_id)
        return {"run_id": run_id, "status": "unknown", "skipped": "run not found"}
    if not run.finished:
        raise RunNotFinished(f"run {run_id} is {run.status}")
    async with unit_of_work(sessions) as session:
        await record_run(session, run, run_input={}, job_id=None)
    report, seen = (IngestReport(), 0)
    if run.dataset_id:
        # Failed, aborted and timed-out runs may still hold partial results: keep them.
        report, seen = await _ingest_pages(sessions, settings, run, progress)
    async with unit_of_work(sessions) as session:
        await _finish(session, run, report, seen, event_id)
    log.info("scrape.ingested", run_id=run_id, status=run.status, items=seen, **_counts(report))
    return {"run_id": run_id, "status": run.status, "items": seen, **report.as_dict()}


def _counts(report: IngestReport) -> dict[str, int]:
    return {k: v for k, v in report.as_dict().items() if isinstance(v, int)}


async def _finish(
    session: AsyncSession,
    run: RunInfo,
    report: IngestReport,
    seen: int,
    event_id: uuid.UUID | None,
) -> None:
    await session.execute(
        update(ApifyRun)
        .where(ApifyRun.run_id == run.id)
        .values(
            items_seen=seen,
            ingest_report=report.as_dict(),
            ingested_at=utcnow(),
            updated_at=utcnow(),
        )
    )
    await _mark_event(session, event_id, error=None)


async def _mark_event(
    session: AsyncSession, event_id: uuid.UUID | None, *, error: str | None
) -> None:
    # The event row belongs to the webhooks layer above; marking it handled is the one write
    # this job makes there, by id, so no webhooks code is needed down here.
    if event_id is None:
        return
    await session.execute(
        update(ExternalEvent)
        .where(ExternalEvent.id == event_id, ExternalEvent.handled_at.is_(None))
        .values(handled_at=utcnow(), error=error)
    )


async def list_runs(session: AsyncSession, *, limit: int = 20) -> list[ApifyRun]:
    rows = await session.scalars(select(ApifyRun).order_by(ApifyRun.created_at.desc()).limit(limit))
    return list(rows)
