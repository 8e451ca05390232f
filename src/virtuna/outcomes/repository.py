"""SQL for outcomes, follow-ups, calibrators and calibration reports.

Analyses are read here too (columns only, never written): outcomes are about analyses, and
the predictions domain may not import this one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, exists, func, select, update
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


async def due_follow_ups(
    session: AsyncSession, *, now: datetime, limit: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(follow-up id, analysis id) of due pending rows of at most ``limit`` analyses.

    Every due row of a chosen analysis is returned, so one fetch can serve them all.
    """
    due = (OutcomeFollowUp.status == "pending", OutcomeFollowUp.due_at <= now)
    analyses = (
        select(OutcomeFollowUp.analysis_id)
        .where(*due)
        .group_by(OutcomeFollowUp.analysis_id)
        .order_by(func.min(OutcomeFollowUp.due_at), OutcomeFollowUp.analysis_id)
        .limit(limit)
    )
    chosen = list((await session.scalars(analyses)).all())
    if not chosen:
        return []
    stmt = (
        select(OutcomeFollowUp.id, OutcomeFollowUp.analysis_id)
        .where(*due, OutcomeFollowUp.analysis_id.in_(chosen))
        .order_by(OutcomeFollowUp.due_at, OutcomeFollowUp.id)
    )
    return [(r[0], r[1]) for r in (await session.execute(stmt)).all()]


async def claim_follow_up(session: AsyncSession, follow_up_id: uuid.UUID) -> bool:
    """pending → running, atomically: only one worker can win a row."""
    result = await session.execute(
        update(OutcomeFollowUp)
        .where(OutcomeFollowUp.id == follow_up_id, OutcomeFollowUp.status == "pending")
        .values(status="running", attempts=OutcomeFollowUp.attempts + 1)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def get_follow_up(session: AsyncSession, follow_up_id: uuid.UUID) -> OutcomeFollowUp | None:
    found: OutcomeFollowUp | None = await session.get(OutcomeFollowUp, follow_up_id)
    return found


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
