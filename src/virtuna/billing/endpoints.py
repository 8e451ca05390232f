"""Billing routes: the caller's plan and quota."""

from __future__ import annotations

from fastapi import APIRouter, Request

from virtuna.billing import service
from virtuna.billing.gate import rate_limiter
from virtuna.billing.schemas import QuotaRead
from virtuna.kit.web import ERRORS_AUTH, Session, get_state
from virtuna.users.auth import CurrentUser

router = APIRouter(prefix="/api", tags=["billing"])


@router.get("/profile/quota", response_model=QuotaRead, responses=ERRORS_AUTH)
async def get_quota(request: Request, user: CurrentUser, session: Session) -> QuotaRead:
    """Plan, analyses used and left today, when the quota resets, the per-minute limit."""
    state = get_state(request)
    status = await service.quota_status(session, settings=state.settings, user=user)
    return QuotaRead(
        plan=status.plan,
        limit=status.limit,
        used=status.used,
        left=status.left,
        resets_at=status.resets_at,
        rate_limit_per_minute=rate_limiter(state).limit_for(user.plan),
    )
