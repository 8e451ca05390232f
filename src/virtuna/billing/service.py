"""Quotas and subscriptions.

Quota: successful, non-degraded analyses per user per UTC day, limited by plan. A charge is
one atomic conditional increment in the request's transaction, so the analysis row and its
charge commit together or not at all (a refused charge rolls the analysis back). A degraded
analysis (a stage failed or timed out) is served but not charged, so the retry a user makes
after one is the only analysis they pay for.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.billing import repository, whop
from virtuna.config import Settings
from virtuna.errors import RateLimited
from virtuna.kit.metrics import QUOTA_REJECTIONS
from virtuna.models import Subscription, User
from virtuna.models.base import utcnow

log = structlog.get_logger("virtuna.billing")
FREE = "free"


@dataclass(frozen=True, slots=True)
class QuotaStatus:
    plan: str
    limit: int | None  # None = unlimited
    used: int
    resets_at: datetime

    @property
    def left(self) -> int | None:
        return None if self.limit is None else max(self.limit - self.used, 0)


def period_of(now: datetime) -> tuple[date, datetime]:
    """The quota period containing ``now`` (UTC day) and when the next one starts."""
    day = now.astimezone(UTC).date()
    return day, datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def limit_for(settings: Settings, plan: str) -> int | None:
    limit = settings.plan_daily_quotas.get(plan, settings.plan_daily_quotas.get(FREE, 0))
    return None if limit < 0 else limit


async def quota_status(
    session: AsyncSession, *, settings: Settings, user: User, now: datetime | None = None
) -> QuotaStatus:
    period, resets = period_of(now or utcnow())
    used = await repository.used(session, user_id=user.id, period=period)
    return QuotaStatus(user.plan, limit_for(settings, user.plan), used, resets)


def _refuse(status: QuotaStatus, wanted: int, now: datetime) -> RateLimited:
    QUOTA_REJECTIONS.labels(plan=status.plan).inc()
    wait = max((status.resets_at - now).total_seconds(), 1.0)
    return RateLimited(
        f"daily analysis quota reached for plan {status.plan!r} "
        f"({status.limit} per day); resets at {status.resets_at.isoformat()}",
        code="quota_exceeded",
        details={
            "plan": status.plan,
            "limit": status.limit,
            "used": status.used,
            "requested": wanted,
            "resets_at": status.resets_at.isoformat(),
            "retry_after": wait,
        },
    )


async def ensure_quota(
    session: AsyncSession, *, settings: Settings, user: User, wanted: int = 1
) -> QuotaStatus:
    """Refuse early (before any scoring work) when the quota is clearly used up."""
    now = utcnow()
    status = await quota_status(session, settings=settings, user=user, now=now)
    if status.left is not None and status.left < wanted:
        raise _refuse(status, wanted, now)
    return status


async def charge(
    session: AsyncSession, *, settings: Settings, user: User, analyses: int
) -> QuotaStatus:
    """Count ``analyses`` against the quota atomically; 429 (and rollback) if they don't fit."""
    now = utcnow()
    period, resets = period_of(now)
    limit = limit_for(settings, user.plan)
    if analyses <= 0:
        return await quota_status(session, settings=settings, user=user, now=now)
    total = await repository.add_usage(
        session, user_id=user.id, period=period, amount=analyses, limit=limit
    )
    if total is None:
        used = await repository.used(session, user_id=user.id, period=period)
        raise _refuse(QuotaStatus(user.plan, limit, used, resets), analyses, now)
    return QuotaStatus(user.plan, limit, total, resets)


def is_degraded(stage_statuses: Sequence[str]) -> bool:
    return any(status in ("failed", "timeout") for status in stage_statuses)


# --- subscriptions (Whop) ---


async def _find_user(session: AsyncSession, change: whop.WhopChange) -> User | None:
    if change.virtuna_user_id:
        try:
            user = await repository.get_user(session, uuid.UUID(change.virtuna_user_id))
        except ValueError:
            user = None
        if user is not None:
            return user
    if change.membership_id:
        sub = await repository.subscription_by_membership(session, change.membership_id)
        if sub is not None:
            return await repository.get_user(session, sub.user_id)
    if change.email:
        return await repository.user_by_email(session, change.email)
    return None


async def apply_change(
    session: AsyncSession, *, settings: Settings, change: whop.WhopChange, source: str
) -> str:
    """Apply one Whop change to the user's subscription and plan; returns what happened."""
    user = await _find_user(session, change)
    if user is None:
        log.warning("billing.whop.unlinked", membership_id=change.membership_id, source=source)
        return "unlinked"
    sub = await repository.subscription_for_user(session, user.id)
    if sub is None:
        sub = Subscription(user_id=user.id, provider="whop", plan=FREE, status="cancelled")
        session.add(sub)
    when = change.occurred_at
    if when is not None and sub.last_event_at is not None and when < sub.last_event_at:
        return "stale"  # a late redelivery of an older event must not undo a newer one
    _update(sub, change, whop.plan_for(settings.whop_plan_map, change))
    if when is not None:
        sub.last_event_at = when
    user.plan = sub.plan if sub.status != "cancelled" else FREE
    await session.flush()
    log.info("billing.plan.changed", user_id=str(user.id), plan=user.plan, status=sub.status)
    return "applied"


def _update(sub: Subscription, change: whop.WhopChange, mapped_plan: str | None) -> None:
    sub.membership_id = change.membership_id or sub.membership_id
    sub.external_user_id = change.external_user_id or sub.external_user_id
    sub.product_id = change.product_id or sub.product_id
    if change.period_end is not None:
        sub.current_period_end = change.period_end
    if change.change is whop.Change.DEACTIVATE:
        sub.status, sub.plan = "cancelled", FREE
    elif change.change is whop.Change.PAYMENT_FAILED:
        sub.status = "past_due"
    else:  # activated, or paid (which also proves the membership is live)
        sub.status = "active"
        if mapped_plan is not None:
            sub.plan = mapped_plan
        elif change.change is whop.Change.ACTIVATE:
            log.warning("billing.whop.unmapped_product", product_id=change.product_id)


async def unhandled_whop_events(session: AsyncSession) -> list[uuid.UUID]:
    return list(await repository.unhandled_events(session, source="whop"))


async def process_whop_event(
    session: AsyncSession, *, settings: Settings, event_id: uuid.UUID
) -> str:
    """Handle one stored Whop delivery once (a handled event is a no-op)."""
    event = await repository.get_event(session, event_id)
    if event is None:
        return "missing"
    if event.handled_at is not None:
        return "already_handled"
    change = whop.parse(event.event_type, event.payload)
    outcome = (
        "ignored"
        if change is None
        else await apply_change(
            session, settings=settings, change=change, source=f"event:{event.external_id}"
        )
    )
    event.handled_at = utcnow()
    await session.flush()
    return outcome


async def memberships_to_sync(session: AsyncSession) -> list[tuple[uuid.UUID, str]]:
    """(subscription id, membership id) pairs, least recently synced first."""
    return [
        (sub.id, sub.membership_id)
        for sub in await repository.subscriptions_to_sync(session)
        if sub.membership_id
    ]


async def fetch_membership(
    http: httpx.AsyncClient, *, settings: Settings, membership_id: str
) -> dict[str, Any]:
    """Whop's current view of one membership (raises ``httpx.HTTPError`` on failure)."""
    assert settings.whop_api_key is not None
    response = await http.get(
        f"{settings.whop_api_base_url.rstrip('/')}/api/v1/memberships/{membership_id}",
        headers={"Authorization": f"Bearer {settings.whop_api_key.get_secret_value()}"},
        timeout=20.0,
    )
    response.raise_for_status()
    body = response.json()
    if not isinstance(body, dict):
        raise httpx.DecodingError("membership is not a JSON object")
    return body


async def apply_membership(
    session: AsyncSession,
    *,
    settings: Settings,
    subscription_id: uuid.UUID,
    membership: dict[str, Any],
) -> str:
    """Reconcile one subscription with the membership Whop reports now."""
    outcome = await apply_change(
        session, settings=settings, change=whop.from_membership(membership), source="sync"
    )
    sub = await session.get(Subscription, subscription_id)
    if sub is not None:
        sub.last_synced_at = utcnow()
    await session.flush()
    return outcome
