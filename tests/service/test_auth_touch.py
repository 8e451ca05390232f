"""Authentication reads in its own short read-only transaction and records ``last_used_at``
at most about once a minute per key, so no request holds the key's row (on SQLite: the
write lock) for its duration."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.models import ApiKey
from virtuna.models.base import utcnow
from virtuna.users import service as users


async def last_used(session: AsyncSession, key: str) -> datetime | None:
    await session.commit()
    session.expire_all()
    value: datetime | None = await session.scalar(
        select(ApiKey.last_used_at).where(ApiKey.key_hash == users.hash_key(key))
    )
    return value


async def test_last_used_is_touched_at_most_once_a_minute(
    client: httpx.AsyncClient, user_key: str, session: AsyncSession
) -> None:
    auth = {"Authorization": f"Bearer {user_key}"}
    assert await last_used(session, user_key) is None
    assert (await client.get("/api/analysis/history", headers=auth)).status_code == 200
    first = await last_used(session, user_key)
    assert first is not None
    assert (await client.get("/api/analysis/history", headers=auth)).status_code == 200
    assert await last_used(session, user_key) == first  # within the minute: no write
    stale = utcnow() - timedelta(minutes=5)
    await session.execute(
        update(ApiKey).where(ApiKey.key_hash == users.hash_key(user_key)).values(last_used_at=stale)
    )
    assert (await client.get("/api/analysis/history", headers=auth)).status_code == 200
    touched = await last_used(session, user_key)
    assert touched is not None
    assert touched > stale + timedelta(minutes=4)


async def test_needs_touch_follows_the_interval() -> None:
    now = utcnow()
    key = ApiKey(last_used_at=None)
    assert users.needs_touch(key, now)
    key.last_used_at = now - timedelta(seconds=30)
    assert not users.needs_touch(key, now)
    key.last_used_at = now - users.TOUCH_INTERVAL
    assert users.needs_touch(key, now)
    key.last_used_at = (now - timedelta(seconds=90)).replace(tzinfo=None)  # SQLite reads naive
    assert users.needs_touch(key, now)
