"""Billing routes: the caller's plan and quota."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.billing import service
from virtuna.billing.gate import rate_limiter
from virtuna.billing.schemas import ProfileRead, QuotaRead
from virtuna.kit.web import ERRORS_AUTH, Session, get_state
from virtuna.models import User
from virtuna.users.auth import CurrentUser

router = APIRouter(prefix="/api", tags=["billing"])


@router.get("/profile", response_model=ProfileRead, responses=ERRORS_AUTH)
async def get_profile(request: Request, user: CurrentUser, session: Session) -> ProfileRead:
    """The key's owner with their plan and quota: used, left and when it resets."""
    return ProfileRead(
        id=user.id,
        email=user.email,
        plan=user.plan,
        is_admin=user.is_admin,
        created_at=user.created_at,
        quota=await _quota(request, user, session),
    )


@router.get("/profile/quota", response_model=QuotaRead, responses=ERRORS_AUTH)
async def get_quota(request: Request, user: CurrentUser, session: Session) -> QuotaRead:
    """Plan, analyses used and left today, when the quota resets, the per-minute limit."""
    return await _quota(request, user, session)


async def _quota(request: Request, user: User, session: AsyncSession) -> QuotaRead:
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
