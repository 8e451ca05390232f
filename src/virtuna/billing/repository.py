"""All SQL for billing: usage counters (atomic conditional increments) and subscriptions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.models import ExternalEvent, Subscription, UsageCounter, User


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def used(session: AsyncSession, *, user_id: uuid.UUID, period: date) -> int:
    value = await session.scalar(
        select(UsageCounter.used).where(
            UsageCounter.user_id == user_id, UsageCounter.period_start == period
        )
    )
    return int(value or 0)


async def add_usage(
    session: AsyncSession, *, user_id: uuid.UUID, period: date, amount: int, limit: int | None
) -> int | None:
    """Add ``amount`` unless that would pass ``limit``; the new total, or None if refused.

    One upsert whose ``WHERE`` sees the committed count: PostgreSQL re-checks it under the
    row lock, SQLite runs it under the write lock, so concurrent requests cannot overshoot.
    """
    if limit is not None and amount > limit:
        return None
    stmt = _insert(session)(UsageCounter).values(user_id=user_id, period_start=period, used=amount)
    stmt = stmt.on_conflict_do_update(
        index_elements=[UsageCounter.user_id, UsageCounter.period_start],
        set_={"used": UsageCounter.used + amount},
        where=(UsageCounter.used + amount <= limit) if limit is not None else None,
    ).returning(UsageCounter.used)
    total = await session.scalar(stmt)
    return int(total) if total is not None else None


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    user: User | None = await session.scalar(select(User).where(User.email == email.lower()))
    return user


async def subscription_for_user(session: AsyncSession, user_id: uuid.UUID) -> Subscription | None:
    sub: Subscription | None = await session.scalar(
        select(Subscription).where(Subscription.user_id == user_id).with_for_update()
    )
    return sub


async def subscription_by_membership(
    session: AsyncSession, membership_id: str
) -> Subscription | None:
    sub: Subscription | None = await session.scalar(
        select(Subscription).where(Subscription.membership_id == membership_id).with_for_update()
    )
    return sub


async def subscriptions_to_sync(session: AsyncSession) -> Sequence[Subscription]:
    rows = await session.scalars(
        select(Subscription)
        .where(Subscription.membership_id.is_not(None))
        .order_by(Subscription.last_synced_at.asc().nulls_first(), Subscription.id)
    )
    return rows.all()


async def get_event(session: AsyncSession, event_id: uuid.UUID) -> ExternalEvent | None:
    event: ExternalEvent | None = await session.scalar(
        select(ExternalEvent).where(ExternalEvent.id == event_id).with_for_update()
    )
    return event


async def count_subscriptions(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Subscription)) or 0)


async def unhandled_events(session: AsyncSession, *, source: str) -> Sequence[uuid.UUID]:
    rows = await session.scalars(
        select(ExternalEvent.id)
        .where(ExternalEvent.source == source, ExternalEvent.handled_at.is_(None))
        .order_by(ExternalEvent.created_at)
    )
    return rows.all()
