"""SQL for users and API keys."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.models import ApiKey, User


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    user: User | None = await session.scalar(select(User).where(User.email == email))
    return user


async def get_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    user: User | None = await session.get(User, user_id)
    return user


async def list_users(session: AsyncSession) -> Sequence[User]:
    return (await session.scalars(select(User).order_by(User.created_at, User.email))).all()


async def find_active_key(session: AsyncSession, key_hash: str) -> tuple[ApiKey, User] | None:
    row = (
        await session.execute(
            select(ApiKey, User)
            .join(User, User.id == ApiKey.user_id)
            .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def touch_key(
    session: AsyncSession,
    key_id: uuid.UUID,
    when: datetime,
    *,
    stale_before: datetime | None = None,
) -> None:
    """Set ``last_used_at``; with ``stale_before`` only if it is older (or unset)."""
    stmt = update(ApiKey).where(ApiKey.id == key_id)
    if stale_before is not None:
        stmt = stmt.where(or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < stale_before))
    await session.execute(stmt.values(last_used_at=when))


async def revoke_keys(session: AsyncSession, user_id: uuid.UUID, when: datetime) -> int:
    result = await session.execute(
        update(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=when)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
