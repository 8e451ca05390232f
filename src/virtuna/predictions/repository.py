"""SQL for analyses."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.models import Analysis, Rule


async def get(session: AsyncSession, analysis_id: uuid.UUID) -> Analysis | None:
    found: Analysis | None = await session.get(Analysis, analysis_id)
    return found


async def history(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None,
    since: datetime | None,
    until: datetime | None,
    input_mode: str | None,
) -> Sequence[Analysis]:
    stmt = select(Analysis).where(Analysis.user_id == user_id)
    if before is not None:
        at, last_id = before
        stmt = stmt.where(
            or_(Analysis.created_at < at, and_(Analysis.created_at == at, Analysis.id < last_id))
        )
    if since is not None:
        stmt = stmt.where(Analysis.created_at >= since)
    if until is not None:
        stmt = stmt.where(Analysis.created_at < until)
    if input_mode is not None:
        stmt = stmt.where(Analysis.input_mode == input_mode)
    stmt = stmt.order_by(Analysis.created_at.desc(), Analysis.id.desc()).limit(limit)
    return (await session.scalars(stmt)).all()


async def active_rules(session: AsyncSession) -> Sequence[Rule]:
    return (
        await session.scalars(select(Rule).where(Rule.active.is_(True)).order_by(Rule.name))
    ).all()


async def all_rule_names(session: AsyncSession) -> set[str]:
    return set((await session.scalars(select(Rule.name))).all())
