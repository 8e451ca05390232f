"""OUT-01: scrape a posted video's counts 48 hours and 7 days after posting.

Each (analysis, checkpoint) is one ``outcome_follow_ups`` row, created once when the owner
reports the posted URL. A run claims due rows (pending → running, a conditional UPDATE
committed before any network call, so two workers can never scrape the same row), fetches
through a ``PostMetricsFetcher``, then stores the snapshot and marks the row done in one
transaction. A fetch error puts the row back for a later run (nothing was scraped, so a
retry is no double scrape) until ``MAX_ATTEMPTS``; a post that no longer exists is done.

The fetcher is a protocol: the Apify client lives in ``virtuna.videos``; the worker's
composition root installs a factory with :func:`use_fetcher_factory`. Without one the job
reports "skipped" and the rows wait.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from virtuna.jobs import JobContext
from virtuna.kit.db import unit_of_work
from virtuna.models import OutcomeFollowUp
from virtuna.outcomes import repository
from virtuna.outcomes.service import CHECKPOINTS

MAX_ATTEMPTS = 3
RETRY_AFTER = timedelta(hours=1)
BATCH = 50
log = structlog.get_logger("virtuna.outcomes.follow_up")


@dataclass(frozen=True)
class PostMetrics:
    """A post's public counts as scraped; ``posted_at`` is its create time when known."""

    views: int | None
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None
    saves: int | None = None
    posted_at: datetime | None = None


class PostMetricsFetcher(Protocol):
    async def fetch(self, url: str) -> PostMetrics | None:
        """The post's current counts; None when the post is gone or private."""
        ...


FetcherFactory = Callable[[JobContext], PostMetricsFetcher | None]


def _no_fetcher(_: JobContext) -> PostMetricsFetcher | None:
    return None


_factory: FetcherFactory = _no_fetcher


def use_fetcher_factory(factory: FetcherFactory | None) -> None:
    """Install how jobs build a fetcher (the worker does; None restores "not configured")."""
    global _factory
    _factory = factory or _no_fetcher


def fetcher_for(ctx: JobContext) -> PostMetricsFetcher | None:
    return _factory(ctx)


async def _claim(
    sessions: async_sessionmaker[AsyncSession], now: datetime
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Claimed follow-up ids grouped by analysis: one fetch serves every due checkpoint."""
    claimed: dict[uuid.UUID, list[uuid.UUID]] = {}
    async with unit_of_work(sessions) as session:
        for fid, analysis_id in await repository.due_follow_ups(session, now=now, limit=BATCH):
            if await repository.claim_follow_up(session, fid):
                claimed.setdefault(analysis_id, []).append(fid)
    return claimed


async def _store(session: AsyncSession, row: OutcomeFollowUp, metrics: PostMetrics,
                 now: datetime) -> None:  # fmt: skip
    analysis = await repository.get_analysis(session, row.analysis_id)
    if analysis is None:  # deleted meanwhile (cascade would have removed the row too)
        return
    await repository.insert_outcome(session, {
        "id": uuid.uuid4(), "analysis_id": analysis.id, "user_id": analysis.user_id,
        "source": "scrape", "observed_at": now, "posted_at": metrics.posted_at,
        "posted_url": row.posted_url, "views": metrics.views, "likes": metrics.likes,
        "comments": metrics.comments, "shares": metrics.shares, "saves": metrics.saves,
        "created_at": now,
    })  # fmt: skip
    if metrics.posted_at is not None:
        # The real create time is now known: later checkpoints count from it.
        due = {name: metrics.posted_at + offset for name, offset in CHECKPOINTS.items()}
        await repository.retime_pending(session, analysis_id=analysis.id, due=due)


async def _fail(sessions: async_sessionmaker[AsyncSession], ids: list[uuid.UUID],
                error: str, now: datetime) -> str:  # fmt: skip
    result = "retry"
    async with unit_of_work(sessions) as session:
        for fid in ids:
            row = await repository.get_follow_up(session, fid)
            if row is None:
                continue
            gave_up = row.attempts >= MAX_ATTEMPTS
            row.status, row.due_at, row.error = ("failed" if gave_up else "pending",
                                                 now + RETRY_AFTER, error)  # fmt: skip
            result = "failed" if gave_up else result
    return result


async def _finish(sessions: async_sessionmaker[AsyncSession], ids: list[uuid.UUID],
                  fetcher: PostMetricsFetcher, now: datetime) -> str:  # fmt: skip
    async with unit_of_work(sessions) as session:
        first = await repository.get_follow_up(session, ids[0])
    if first is None:
        return "gone"
    try:
        metrics = await fetcher.fetch(first.posted_url)
    except Exception as exc:  # any scraper failure: retry later, never crash the batch
        error = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("outcome.follow_up.fetch_failed", analysis_id=str(first.analysis_id),
                    error=error)  # fmt: skip
        return await _fail(sessions, ids, error, now)
    async with unit_of_work(sessions) as session:
        rows = [r for fid in ids if (r := await repository.get_follow_up(session, fid))]
        if metrics is not None and rows:
            await _store(session, rows[0], metrics, now)
        for row in rows:
            row.status, row.finished_at = "done", now
            row.error = None if metrics is not None else "post not found"
    return "scraped" if metrics is not None else "missing"


async def follow_up(
    sessions: async_sessionmaker[AsyncSession],
    *,
    fetcher: PostMetricsFetcher,
    now: datetime | None = None,
    max_batches: int = 20,
) -> dict[str, Any]:
    """Scrape every due post once (all its due checkpoints at once); counts by result."""
    now = now or datetime.now(UTC)
    counts: dict[str, int] = {}
    for _ in range(max_batches):
        claimed = await _claim(sessions, now)
        if not claimed:
            break
        for ids in claimed.values():
            result = await _finish(sessions, ids, fetcher, now)
            counts[result] = counts.get(result, 0) + 1
    return {"status": "ok", **counts}
