"""SQL for the LLM cost ledger."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.models import LLMCall

GROUPS = ("day", "provider", "model")


def _day(session: AsyncSession) -> ColumnElement[Any]:
    """The UTC calendar day of ``started_at`` as YYYY-MM-DD, per backend."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", LLMCall.started_at), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", LLMCall.started_at)  # SQLite stores naive UTC text


async def add_calls(session: AsyncSession, rows: Sequence[LLMCall]) -> None:
    session.add_all(rows)
    await session.flush()


async def calls_for(session: AsyncSession, analysis_id: uuid.UUID) -> Sequence[LLMCall]:
    query = (
        select(LLMCall)
        .where(LLMCall.analysis_id == analysis_id)
        .order_by(LLMCall.role, LLMCall.attempt)
    )
    return (await session.scalars(query)).all()


async def aggregate(
    session: AsyncSession, *, since: datetime, until: datetime, group_by: Sequence[str]
) -> list[dict[str, Any]]:
    """Sums per group over calls started in [since, until); fractional cents, not rounded."""
    columns: dict[str, Any] = {
        "day": _day(session),
        "provider": LLMCall.provider,
        "model": LLMCall.model,
    }
    keys = [columns[name].label(name) for name in GROUPS if name in group_by]
    upstream = LLMCall.outcome != "breaker_open"
    query = (
        select(
            *keys,
            func.sum(case((upstream, 1), else_=0)).label("calls"),
            func.sum(case((LLMCall.outcome == "ok", 1), else_=0)).label("ok_calls"),
            func.sum(LLMCall.input_tokens).label("input_tokens"),
            func.sum(LLMCall.output_tokens).label("output_tokens"),
            func.sum(LLMCall.cost_cents).label("cost_cents"),
        )
        .where(LLMCall.started_at >= since, LLMCall.started_at < until)
        .group_by(*keys)
    )
    return [dict(row._mapping) for row in await session.execute(query)]
