"""SQL for outcomes, follow-ups, calibrators and calibration reports.

Analyses are read here too (columns only, never written): outcomes are about analyses, and
the predictions domain may not import this one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.models import Analysis, CalibrationReport, Calibrator, Outcome, OutcomeFollowUp

# What calibration and the track record need of an analysis (not its full result JSON).
LEDGER_COLUMNS = (
    Analysis.id,
    Analysis.user_id,
    Analysis.created_at,
    Analysis.scheduled_for,
    Analysis.engine_version,
    Analysis.model_version,
    Analysis.input_mode,
    Analysis.overall_score,
    Analysis.tier_probabilities,
    Analysis.raw_tier_probabilities,
)


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


async def get_analysis(session: AsyncSession, analysis_id: uuid.UUID) -> Analysis | None:
    found: Analysis | None = await session.get(Analysis, analysis_id)
    return found


async def insert_outcome(session: AsyncSession, values: dict[str, Any]) -> uuid.UUID | None:
    """Insert-on-conflict-do-nothing on (analysis_id, observed_at); None when it existed."""
    stmt = (
        _insert(session)(Outcome)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["analysis_id", "observed_at"])
        .returning(Outcome.id)
    )
    inserted: uuid.UUID | None = await session.scalar(stmt)
    return inserted


async def outcome_at(
    session: AsyncSession, analysis_id: uuid.UUID, observed_at: datetime
) -> Outcome | None:
    stmt = select(Outcome).where(
        Outcome.analysis_id == analysis_id, Outcome.observed_at == observed_at
    )
    found: Outcome | None = await session.scalar(stmt)
    return found


async def outcomes_of(session: AsyncSession, analysis_ids: Sequence[uuid.UUID]) -> list[Outcome]:
    if not analysis_ids:
        return []
    stmt = (
        select(Outcome)
        .where(Outcome.analysis_id.in_(analysis_ids))
        .order_by(Outcome.analysis_id, Outcome.observed_at)
    )
    return list((await session.scalars(stmt)).all())


async def ledger_rows(
    session: AsyncSession, *, user_id: uuid.UUID | None = None
) -> Sequence[Row[Any]]:
    """Analyses that have at least one outcome with views, oldest first."""
    has_views = exists().where(Outcome.analysis_id == Analysis.id, Outcome.views.is_not(None))
    stmt = select(*LEDGER_COLUMNS).where(has_views)
    if user_id is not None:
        stmt = stmt.where(Analysis.user_id == user_id)
    return (await session.execute(stmt.order_by(Analysis.created_at, Analysis.id))).all()


async def pending(
    session: AsyncSession, *, user_id: uuid.UUID, planned_before: datetime,
    planned_after: datetime, limit: int,
) -> Sequence[Row[Any]]:  # fmt: skip
    """The user's analyses planned in the window with neither an outcome nor a follow-up."""
    planned = func.coalesce(Analysis.scheduled_for, Analysis.created_at)
    stmt = (
        select(
            Analysis.id,
            Analysis.created_at,
            planned.label("planned"),
            Analysis.content_text,
            Analysis.tiktok_url,
        )  # fmt: skip
        .where(
            Analysis.user_id == user_id,
            planned <= planned_before,
            planned >= planned_after,
            ~exists().where(Outcome.analysis_id == Analysis.id),
            ~exists().where(OutcomeFollowUp.analysis_id == Analysis.id),
        )
        .order_by(planned.desc(), Analysis.id)
        .limit(limit)
    )
    return (await session.execute(stmt)).all()


# -- follow-ups ------------------------------------------------------------------------


async def schedule_follow_ups(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert follow-ups; an (analysis, checkpoint) already scheduled is left untouched."""
    if rows:
        stmt = (
            _insert(session)(OutcomeFollowUp)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["analysis_id", "checkpoint"])
        )
        await session.execute(stmt)


async def follow_ups_of(session: AsyncSession, analysis_id: uuid.UUID) -> list[OutcomeFollowUp]:
    stmt = (
        select(OutcomeFollowUp)
        .where(OutcomeFollowUp.analysis_id == analysis_id)
        .order_by(OutcomeFollowUp.due_at)
    )
    return list((await session.scalars(stmt)).all())


def _due_or_stale(now: datetime, stale_before: datetime) -> ColumnElement[bool]:
    """Pending and due, or running under a claim older than ``stale_before`` (a dead worker)."""
    return or_(
        and_(OutcomeFollowUp.status == "pending", OutcomeFollowUp.due_at <= now),
        and_(
            OutcomeFollowUp.status == "running",
            or_(OutcomeFollowUp.claimed_at.is_(None), OutcomeFollowUp.claimed_at < stale_before),
        ),
    )


async def due_follow_ups(
    session: AsyncSession, *, now: datetime, stale_before: datetime, limit: int
) -> list[Row[Any]]:
    """(id, analysis_id, url, status) of claimable rows of at most ``limit`` analyses.

    Every claimable row of a chosen analysis is returned, so one fetch can serve them all.
    """
    claimable = _due_or_stale(now, stale_before)
    analyses = (
        select(OutcomeFollowUp.analysis_id)
        .where(claimable)
        .group_by(OutcomeFollowUp.analysis_id)
        .order_by(func.min(OutcomeFollowUp.due_at), OutcomeFollowUp.analysis_id)
        .limit(limit)
    )
    chosen = list((await session.scalars(analyses)).all())
    if not chosen:
        return []
    stmt = (
        select(
            OutcomeFollowUp.id,
            OutcomeFollowUp.analysis_id,
            OutcomeFollowUp.posted_url.label("url"),
            OutcomeFollowUp.status,
        )
        .where(claimable, OutcomeFollowUp.analysis_id.in_(chosen))
        .order_by(OutcomeFollowUp.due_at, OutcomeFollowUp.id)
    )
    return list((await session.execute(stmt)).all())


async def count_due(session: AsyncSession, *, now: datetime) -> int:
    stmt = select(func.count()).where(
        OutcomeFollowUp.status == "pending", OutcomeFollowUp.due_at <= now
    )
    return int(await session.scalar(stmt) or 0)


async def claim_follow_up(
    session: AsyncSession, follow_up_id: uuid.UUID, *, now: datetime, stale_before: datetime
) -> bool:
    """Due pending (or stale running) → running since ``now``, atomically: one winner."""
    result = await session.execute(
        update(OutcomeFollowUp)
        .where(OutcomeFollowUp.id == follow_up_id, _due_or_stale(now, stale_before))
        .values(status="running", claimed_at=now, attempts=OutcomeFollowUp.attempts + 1)
    )
    return _rowcount(result) == 1


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _held(ids: Sequence[uuid.UUID], claimed_at: datetime) -> tuple[ColumnElement[bool], ...]:
    """Rows still held by the claim taken at ``claimed_at`` (not finished, not taken over)."""
    return (
        OutcomeFollowUp.id.in_(ids),
        OutcomeFollowUp.status == "running",
        OutcomeFollowUp.claimed_at == claimed_at,
    )


async def finish_claim(
    session: AsyncSession, ids: Sequence[uuid.UUID], *, claimed_at: datetime, now: datetime,
    error: str | None,
) -> bool:  # fmt: skip
    """running → done for the rows this claim still holds; False if it holds none."""
    result = await session.execute(
        update(OutcomeFollowUp)
        .where(*_held(ids, claimed_at))
        .values(status="done", finished_at=now, error=error)
    )
    return _rowcount(result) > 0


async def release_claim(
    session: AsyncSession, ids: Sequence[uuid.UUID], *, claimed_at: datetime, error: str,
    now: datetime, retry_at: datetime, max_attempts: int,
) -> str:  # fmt: skip
    """Held rows back to pending at ``retry_at`` ("retry"), or "failed" once out of attempts."""
    failed = await session.execute(
        update(OutcomeFollowUp)
        .where(*_held(ids, claimed_at), OutcomeFollowUp.attempts >= max_attempts)
        .values(status="failed", finished_at=now, error=error)
    )
    retried = await session.execute(
        update(OutcomeFollowUp)
        .where(*_held(ids, claimed_at))
        .values(status="pending", due_at=retry_at, error=error)
    )
    if _rowcount(failed):
        return "failed"
    return "retry" if _rowcount(retried) else "lost"


async def give_up_stale(
    session: AsyncSession, *, stale_before: datetime, max_attempts: int, now: datetime
) -> int:
    """Stale running rows already claimed ``max_attempts`` times → failed; how many."""
    result = await session.execute(
        update(OutcomeFollowUp)
        .where(
            OutcomeFollowUp.status == "running",
            or_(OutcomeFollowUp.claimed_at.is_(None), OutcomeFollowUp.claimed_at < stale_before),
            OutcomeFollowUp.attempts >= max_attempts,
        )
        .values(
            status="failed",
            finished_at=now,
            error=f"claimed {max_attempts} times by workers that never finished",
        )
    )
    return _rowcount(result)


async def retime_pending(
    session: AsyncSession, *, analysis_id: uuid.UUID, due: dict[str, datetime]
) -> None:
    for checkpoint, due_at in due.items():
        await session.execute(
            update(OutcomeFollowUp)
            .where(
                OutcomeFollowUp.analysis_id == analysis_id,
                OutcomeFollowUp.checkpoint == checkpoint,
                OutcomeFollowUp.status == "pending",
            )
            .values(due_at=due_at)
        )


# -- calibrators and reports -----------------------------------------------------------


async def add_calibrator(session: AsyncSession, row: Calibrator) -> None:
    session.add(row)
    await session.flush()


async def deactivate(
    session: AsyncSession, *, engine_version: str, model_version: str | None, input_mode: str
) -> None:
    await session.execute(
        update(Calibrator)
        .where(
            Calibrator.active.is_(True),
            Calibrator.engine_version == engine_version,
            Calibrator.model_version == model_version,
            Calibrator.input_mode == input_mode,
        )
        .values(active=False)
    )


async def active_calibrators(session: AsyncSession) -> list[Calibrator]:
    stmt = select(Calibrator).where(Calibrator.active.is_(True)).order_by(Calibrator.created_at)
    return list((await session.scalars(stmt)).all())


async def add_report(session: AsyncSession, row: CalibrationReport) -> None:
    session.add(row)
    await session.flush()


async def latest_report(session: AsyncSession, kind: str) -> CalibrationReport | None:
    stmt = (
        select(CalibrationReport)
        .where(CalibrationReport.kind == kind)
        .order_by(CalibrationReport.created_at.desc())
        .limit(1)
    )
    found: CalibrationReport | None = await session.scalar(stmt)
    return found
