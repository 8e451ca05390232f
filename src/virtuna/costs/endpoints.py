"""Admin cost report route."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from virtuna.costs import service
from virtuna.costs.schemas import CostReport, GroupBy
from virtuna.kit.web import ERRORS_ADMIN, ERRORS_INPUT, Session
from virtuna.users.auth import AdminUser

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.get("/costs", response_model=CostReport, responses={**ERRORS_ADMIN, 422: ERRORS_INPUT[422]})
async def costs(
    user: AdminUser,
    session: Session,
    days: Annotated[int | None, Query(ge=1, le=service.MAX_DAYS)] = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    group_by: Annotated[list[GroupBy] | None, Query()] = None,
) -> CostReport:
    """LLM spending over a period (default: the last 30 days), per day and model by default;
    ``group_by`` may repeat (day, provider, model). Fractional cents, never rounded."""
    return await service.cost_report(
        session, days=days, since=since, until=until, group_by=group_by or ("day", "model")
    )
