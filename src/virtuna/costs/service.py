"""The LLM cost ledger: store each analysis's call records, report spending."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.costs import repository
from virtuna.costs.schemas import CostReport, CostRow, GroupBy
from virtuna.engine.llm.ledger import CallRecord, collect_calls
from virtuna.engine.result import AnalysisResult
from virtuna.errors import ValidationFailed
from virtuna.models import LLMCall

MAX_DAYS = 365


def total_cents(calls: Sequence[CallRecord]) -> float:
    return round(sum(c.cost_cents for c in calls), 8)


def with_ledger_cost(result: AnalysisResult, calls: Sequence[CallRecord]) -> AnalysisResult:
    """The result's ``cost_cents`` as the sum of its ledger rows, so spending on attempts
    that produced nothing (a failed provider, a repair turn) is not lost."""
    if not calls:
        return result
    return result.model_copy(update={"cost_cents": total_cents(calls)})


async def record_calls(
    session: AsyncSession, *, analysis_id: uuid.UUID | None, calls: Sequence[CallRecord]
) -> None:
    if not calls:
        return
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    rows = [
        LLMCall(
            analysis_id=analysis_id,
            request_id=str(request_id)[:64] if request_id else None,
            provider=c.provider,
            model=c.model[:128],
            role=c.role,
            attempt=c.attempt,
            prompt_version=c.prompt_version,
            outcome=c.outcome,
            error_class=c.error_class[:100] if c.error_class else None,
            http_status=c.http_status,
            input_tokens=c.input_tokens,
            cached_input_tokens=c.cached_input_tokens,
            output_tokens=c.output_tokens,
            cost_cents=c.cost_cents,
            latency_ms=c.latency_ms,
            started_at=c.started_at,
        )
        for c in calls
    ]
    await repository.add_calls(session, rows)


def report_window(
    *, days: int | None, since: datetime | None, until: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    until = _aware(until) if until else now
    if since is None:
        since = until - timedelta(days=days or 30)
    since = _aware(since)
    if since >= until:
        raise ValidationFailed(
            "empty period", details=[{"field": "from", "message": "must be before 'to'"}]
        )
    if until - since > timedelta(days=MAX_DAYS):
        raise ValidationFailed(
            "period too long",
            details=[{"field": "from", "message": f"at most {MAX_DAYS} days per report"}],
        )
    return since, until


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def cost_report(
    session: AsyncSession,
    *,
    days: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    group_by: Sequence[GroupBy] = ("day", "model"),
    now: datetime | None = None,
) -> CostReport:
    start, end = report_window(days=days, since=since, until=until, now=now or datetime.now(UTC))
    groups = list(dict.fromkeys(group_by)) or ["day", "model"]
    rows = [
        CostRow(**{k: v for k, v in row.items() if v is not None or k in groups})
        for row in await repository.aggregate(session, since=start, until=end, group_by=groups)
    ]
    rows.sort(key=lambda r: (r.model or "", r.provider or ""))
    rows.sort(key=lambda r: r.day or "", reverse=True)  # newest day first, stable by model
    return CostReport(
        since=start,
        until=end,
        group_by=groups,
        total_cost_cents=round(sum(r.cost_cents for r in rows), 8),
        total_calls=sum(r.calls for r in rows),
        rows=rows,
    )


async def ledgered(
    work: Awaitable[AnalysisResult],
) -> tuple[AnalysisResult, list[CallRecord]]:
    """Await an engine run while collecting its LLM call records; cost from the ledger.

    ``work`` must be a coroutine not yet started: it runs in this context, so the engine's
    stage tasks (created inside it) inherit the collector.
    """
    with collect_calls() as calls:
        result = await work
    return with_ledger_cost(result, calls), calls
