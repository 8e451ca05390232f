"""The admission gate for scoring routes: rate limit and quota before the work, the charge
(and the analysis metrics) after it.

Endpoints take ``gate: AnalysisGate`` and call ``await gate.charge(session, results)`` in the
transaction that stores the results; a refused charge raises 429 and rolls it back. The early
check runs in its own short read-only transaction, so nothing is held while the route scores.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.billing import service
from virtuna.billing.ratelimit import PlanRateLimiter
from virtuna.config import Settings
from virtuna.engine.result import AnalysisResult
from virtuna.errors import RateLimited
from virtuna.kit.db import read_phase
from virtuna.kit.metrics import record_analysis, record_stage
from virtuna.kit.observability import stage_breadcrumb
from virtuna.kit.web import AppState, Session, get_state
from virtuna.models import User
from virtuna.users.auth import CurrentUser


def rate_limiter(state: AppState) -> PlanRateLimiter:
    """One limiter per app (created on first use, kept in ``state.extras``)."""
    limiter = state.extras.get("rate_limiter")
    if not isinstance(limiter, PlanRateLimiter):
        limiter = PlanRateLimiter(state.settings)
        state.extras["rate_limiter"] = limiter
    return limiter


@dataclass
class Gate:
    settings: Settings
    user: User

    async def charge(self, session: AsyncSession, results: Sequence[AnalysisResult]) -> None:
        billable = 0
        for result in results:
            statuses = [t.status for t in result.stage_timings]
            billable += 0 if service.is_degraded(statuses) else 1
            _observe(result)
        await service.charge(session, settings=self.settings, user=self.user, analyses=billable)


def _observe(result: AnalysisResult) -> None:
    record_analysis(result.input_mode, result.confidence_label)
    for timing in result.stage_timings:
        record_stage(timing.stage, timing.duration_ms / 1000)
        stage_breadcrumb(timing.stage, timing.status, timing.duration_ms)


async def analysis_gate(
    request: Request, user: CurrentUser, session: Session
) -> AsyncIterator[Gate]:
    state = get_state(request)
    # Ties this request's logs and Sentry events to the (opaque) user id, then unbinds it.
    with structlog.contextvars.bound_contextvars(user_id=str(user.id)):
        wait = await rate_limiter(state).hit(f"user:{user.id}", user.plan)
        if wait is not None:
            raise RateLimited(
                f"too many scoring requests for plan {user.plan!r}; slow down",
                details={"retry_after": wait, "plan": user.plan},
            )
        async with read_phase(session):  # a cheap early refusal; the charge decides
            await service.ensure_quota(session, settings=state.settings, user=user)
        yield Gate(state.settings, user)


AnalysisGate = Annotated[Gate, Depends(analysis_gate)]
