"""Keep creator profiles fresh: which creators are stale, and the profile scrape that refreshes
them (`refresh-competitors`), also queued when a draft names an unknown or stale creator.

A profile scrape is an ordinary Apify run with the same webhook as the trending scrape, so
its dataset goes through the same idempotent ingest (``ingest-apify-run``): the creator row
gets its latest followers and the profile's recent videos their stats snapshots.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine, Iterable
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from virtuna.config import Settings, get_settings
from virtuna.engine.draft import normalize_handle
from virtuna.jobs import service as jobs
from virtuna.kit.db import unit_of_work
from virtuna.models import Analysis, ApifyRun, Creator
from virtuna.videos import apify
from virtuna.videos.scraping import record_run

log = structlog.get_logger("virtuna.creators")

REFRESH_TASK = "refresh-competitors"
TRACKED_DAYS = 30  # creators named by drafts this recently are tracked
TRACKED_SCAN = 2000  # most recent distinct handles looked at per run


def stale_before(now: datetime, stale_days: int) -> datetime:
    return now - timedelta(days=stale_days)


async def fresh_handles(
    session: AsyncSession, handles: Iterable[str], *, cutoff: datetime
) -> set[str]:
    """The handles whose profile was seen (scraped) at or after ``cutoff``."""
    wanted = sorted(set(handles))
    if not wanted:
        return set()
    seen = func.coalesce(Creator.followers_seen_at, Creator.updated_at)
    rows = await session.scalars(
        select(Creator.handle).where(Creator.handle.in_(wanted), seen >= cutoff)
    )
    return set(rows)


async def tracked_handles(session: AsyncSession, *, now: datetime) -> list[str]:
    """Creators named by recent drafts, the most recently named first (normalized, unique)."""
    latest = func.max(Analysis.created_at)
    rows = await session.execute(
        select(Analysis.creator_handle, latest)
        .where(
            Analysis.creator_handle.is_not(None),
            Analysis.created_at >= now - timedelta(days=TRACKED_DAYS),
        )
        .group_by(Analysis.creator_handle)
        .order_by(latest.desc())
        .limit(TRACKED_SCAN)
    )
    handles = (normalize_handle(raw or "") for raw, _ in rows.tuples())
    return list(dict.fromkeys(h for h in handles if h))


async def stale_handles(
    session: AsyncSession, settings: Settings, *, now: datetime, handles: list[str] | None
) -> list[str]:
    """The handles to re-scrape: ``handles`` (or the tracked ones) that are unknown or stale."""
    if handles is None:
        candidates = await tracked_handles(session, now=now)
    else:
        candidates = list(dict.fromkeys(h for h in map(normalize_handle, handles) if h))
    cutoff = stale_before(now, settings.creator_stale_days)
    fresh = await fresh_handles(session, candidates, cutoff=cutoff)
    return [h for h in candidates if h not in fresh][: settings.refresh_competitors_max_profiles]


def _skipped(reason: str) -> dict[str, Any]:
    log.warning("creators.refresh_skipped", reason=reason)
    return {"status": "skipped", "reason": reason, "profiles": []}


async def refresh_profiles(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    job_id: str,
    now: datetime,
    handles: list[str] | None = None,
) -> dict[str, Any]:
    """Start one profile scrape of the stale creators; the webhook then ingests it."""
    if settings.apify_token is None:
        return _skipped("APIFY_TOKEN is not set: profile scraping is off")
    if settings.apify_webhook_secret is None:
        return _skipped("APIFY_WEBHOOK_SECRET is not set: the results could not be delivered")
    async with unit_of_work(sessions) as session:
        started = await session.scalar(select(ApifyRun).where(ApifyRun.job_id == job_id))
        if started is not None and job_id:  # a retried job: its run already exists
            return {"status": started.status, "run_id": started.run_id, "profiles": []}
        stale = await stale_handles(session, settings, now=now, handles=handles)
    if not stale:
        return {"status": "nothing to refresh", "profiles": []}
    run = await apify.start_profiles_run(
        settings, stale, idempotency_key=f"virtuna-{job_id or uuid.uuid4()}"
    )
    async with unit_of_work(sessions) as session:
        await record_run(
            session,
            run,
            run_input=apify.profiles_input(settings, stale),
            job_id=job_id or None,
        )
    log.info("creators.refresh_started", run_id=run.id, profiles=len(stale))
    return {"status": run.status, "run_id": run.id, "profiles": stale}


async def request_creator_refresh(
    session: AsyncSession, handle: str | None, now: datetime, *, stale_days: int | None = None
) -> bool:
    """Queue a profile scrape of ``handle`` when it is unknown or stale; True if handled.

    Called on the analysis path, so it never raises and never waits. In a writable
    transaction the queued run is a ``job_runs`` row written in a savepoint of it (committed
    with the analysis; a queueing lock per handle keeps one waiting run per creator). In a
    read-only one (the analysis' read phase) a background task queues it in its own short
    transaction, so no lock is ever awaited here. On PostgreSQL the worker's sweep hands
    such rows to procrastinate. ``stale_days`` defaults to ``VIRTUNA_CREATOR_STALE_DAYS``.
    """
    normalized = normalize_handle(handle or "")
    if not normalized:
        return False
    try:
        days = stale_days if stale_days is not None else get_settings().creator_stale_days
        connection = await session.connection()
        sync = connection.sync_connection
        if sync is not None and not sync.get_execution_options().get("virtuna_readonly"):
            async with session.begin_nested():
                return await _queue_if_stale(session, normalized, now, days)
        if isinstance(session.bind, AsyncEngine):
            _spawn(_queue_in_own_transaction(session.bind, normalized, now, days))
            return True
    except Exception:  # never fail the analysis over a background refresh
        log.warning("creators.refresh_not_queued", handle=normalized, exc_info=True)
    return False


async def _queue_if_stale(session: AsyncSession, handle: str, now: datetime, days: int) -> bool:
    if await fresh_handles(session, [handle], cutoff=stale_before(now, days)):
        return False
    run = await jobs.create_run(
        session,
        task_name=REFRESH_TASK,
        args={"handles": [handle]},
        trigger="defer",
        queueing_lock=f"{REFRESH_TASK}:{handle}",
        lock=None,
        schedule_at=None,
        now=now,
    )
    if run is not None:
        log.info("creators.refresh_queued", handle=handle, run_id=run.id)
    return run is not None


async def _queue_in_own_transaction(
    engine: AsyncEngine, handle: str, now: datetime, days: int
) -> None:
    try:
        async with unit_of_work(async_sessionmaker(engine, expire_on_commit=False)) as session:
            await _queue_if_stale(session, handle, now, days)
    except Exception:
        log.warning("creators.refresh_not_queued", handle=handle, exc_info=True)


_BACKGROUND: set[asyncio.Task[None]] = set()


def _spawn(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(work)
    _BACKGROUND.add(task)  # a strong reference until it is done
    task.add_done_callback(_BACKGROUND.discard)


async def wait_for_background() -> None:
    """Let the background refreshes queued so far finish (tests, graceful shutdown)."""
    while _BACKGROUND:
        await asyncio.gather(*list(_BACKGROUND), return_exceptions=True)
