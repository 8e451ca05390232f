"""OUT-01: scrape a posted video's counts 48 hours and 7 days after posting, once each.

Each (analysis, checkpoint) is one ``outcome_follow_ups`` row, created once when the owner
reports the posted URL. A run claims due rows (pending → running with ``claimed_at``, a
conditional UPDATE committed before any network call, so two workers never hold one row),
fetches every claimed URL in one scraper call, then stores each snapshot and marks its rows
done in one transaction — only if the claim is still its own (the row is still running with
the same ``claimed_at``), so a row is completed, and its snapshot stored, exactly once.

A worker that crashes leaves its rows "running". Once their claim is older than
``outcome_follow_up_stale_minutes`` the next run claims them again (nothing was stored, so a
retry is no double scrape); a row claimed ``MAX_ATTEMPTS`` times is given up. A fetch error
puts rows back for a later run; a post that no longer exists is done.

The fetcher is a protocol (:mod:`virtuna.outcomes.post_metrics`); the default factory builds
the Apify fetcher when ``APIFY_TOKEN`` is set, and tests install fakes with
:func:`use_fetcher_factory`. Without a fetcher the job reports "skipped" and rows wait.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from virtuna.jobs import JobContext
from virtuna.kit.db import unit_of_work
from virtuna.outcomes import repository
from virtuna.outcomes.post_metrics import PostMetrics, PostMetricsFetcher, apify_fetcher
from virtuna.outcomes.service import CHECKPOINTS

__all__ = ["PostMetrics", "PostMetricsFetcher", "follow_up", "use_fetcher_factory"]

MAX_ATTEMPTS = 3
RETRY_AFTER = timedelta(hours=1)
DEFAULT_STALE_AFTER = timedelta(minutes=90)
BATCH = 50  # analyses per scraper run
log = structlog.get_logger("virtuna.outcomes.follow_up")

FetcherFactory = Callable[[JobContext], PostMetricsFetcher | None]
_factory: FetcherFactory = apify_fetcher


def use_fetcher_factory(factory: FetcherFactory | None) -> None:
    """Install how jobs build a fetcher (None restores the default: Apify when configured)."""
    global _factory
    _factory = factory or apify_fetcher


def fetcher_for(ctx: JobContext) -> PostMetricsFetcher | None:
    return _factory(ctx)


@dataclass(frozen=True)
class Claim:
    """The due rows of one analysis, held by this run since ``claimed_at``."""

    analysis_id: uuid.UUID
    ids: list[uuid.UUID]
    url: str
    claimed_at: datetime


async def _claim(
    sessions: async_sessionmaker[AsyncSession], now: datetime, stale_after: timedelta
) -> tuple[list[Claim], int]:
    """This run's claims (one per analysis: one fetch serves its due checkpoints), and how
    many of the rows were taken over from a worker that never finished."""
    stale_before = now - stale_after
    claims: dict[uuid.UUID, Claim] = {}
    reclaimed = 0
    async with unit_of_work(sessions) as session:
        given_up = await repository.give_up_stale(
            session, stale_before=stale_before, max_attempts=MAX_ATTEMPTS, now=now
        )
        if given_up:
            log.warning("outcome.follow_up.abandoned", rows=given_up)
        due = await repository.due_follow_ups(
            session, now=now, stale_before=stale_before, limit=BATCH
        )
        for row in due:
            if not await repository.claim_follow_up(
                session, row.id, now=now, stale_before=stale_before
            ):
                continue
            reclaimed += row.status == "running"
            claim = claims.setdefault(row.analysis_id, Claim(row.analysis_id, [], row.url, now))
            claim.ids.append(row.id)
    if reclaimed:
        log.warning("outcome.follow_up.reclaimed", rows=reclaimed)
    return list(claims.values()), reclaimed


async def _store(session: AsyncSession, claim: Claim, metrics: PostMetrics, now: datetime) -> None:
    analysis = await repository.get_analysis(session, claim.analysis_id)
    if analysis is None:  # deleted meanwhile (cascade would have removed the rows too)
        return
    await repository.insert_outcome(session, {
        "id": uuid.uuid4(), "analysis_id": analysis.id, "user_id": analysis.user_id,
        "source": "scrape", "observed_at": now, "posted_at": metrics.posted_at,
        "posted_url": claim.url, "views": metrics.views, "likes": metrics.likes,
        "comments": metrics.comments, "shares": metrics.shares, "saves": metrics.saves,
        "created_at": now,
    })  # fmt: skip
    if metrics.posted_at is not None:
        # The real create time is now known: later checkpoints count from it.
        due = {name: metrics.posted_at + offset for name, offset in CHECKPOINTS.items()}
        await repository.retime_pending(session, analysis_id=analysis.id, due=due)


async def _fail(
    sessions: async_sessionmaker[AsyncSession], claim: Claim, error: str, now: datetime
) -> str:
    """Put the claim's rows back for a later run, or give them up after MAX_ATTEMPTS."""
    async with unit_of_work(sessions) as session:
        outcome = await repository.release_claim(
            session, claim.ids, claimed_at=claim.claimed_at, error=error, now=now,
            retry_at=now + RETRY_AFTER, max_attempts=MAX_ATTEMPTS,
        )  # fmt: skip
    return outcome


async def _complete(
    sessions: async_sessionmaker[AsyncSession], claim: Claim, metrics: PostMetrics | None,
    now: datetime,
) -> str:  # fmt: skip
    async with unit_of_work(sessions) as session:
        won = await repository.finish_claim(
            session, claim.ids, claimed_at=claim.claimed_at, now=now,
            error=None if metrics is not None else "post not found",
        )  # fmt: skip
        if not won:  # taken over meanwhile: the other holder stores it, never both
            return "lost"
        if metrics is not None:
            await _store(session, claim, metrics, now)
    return "scraped" if metrics is not None else "missing"


async def _settle(
    sessions: async_sessionmaker[AsyncSession], claims: list[Claim],
    fetched: Mapping[str, PostMetrics | None] | str, now: datetime,
) -> list[str]:  # fmt: skip
    """Each claim's result; ``fetched`` is the fetch's answer, or its error message."""
    results = []
    for claim in claims:
        if isinstance(fetched, str):
            results.append(await _fail(sessions, claim, fetched, now))
        elif claim.url not in fetched:
            results.append(await _fail(sessions, claim, "not in the scraper's results", now))
        else:
            results.append(await _complete(sessions, claim, fetched[claim.url], now))
    return results


async def _fetch(
    fetcher: PostMetricsFetcher, claims: list[Claim]
) -> Mapping[str, PostMetrics | None] | str:
    try:
        return await fetcher.fetch_many([claim.url for claim in claims])
    except Exception as exc:  # any scraper failure: retry later, never crash the job
        error = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("outcome.follow_up.fetch_failed", urls=len(claims), error=error)
        return error


async def follow_up(
    sessions: async_sessionmaker[AsyncSession],
    *,
    fetcher: PostMetricsFetcher,
    now: datetime | None = None,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    max_batches: int = 20,
) -> dict[str, Any]:
    """Scrape every due post once (one scraper call per batch); counts by result."""
    now = now or datetime.now(UTC)
    counts: dict[str, int] = {}
    for _ in range(max_batches):
        claims, reclaimed = await _claim(sessions, now, stale_after)
        if reclaimed:
            counts["reclaimed"] = counts.get("reclaimed", 0) + reclaimed
        if not claims:
            break
        for result in await _settle(sessions, claims, await _fetch(fetcher, claims), now):
            counts[result] = counts.get(result, 0) + 1
    return {"status": "ok", **counts}
