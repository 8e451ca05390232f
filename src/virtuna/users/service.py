"""Users and API keys: creation, listing, authentication.

A key is shown once at creation; only its SHA-256 hash is stored. Keys carry 256 bits of
randomness, so an unsalted fast hash is the right tool (there is nothing to brute-force).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.errors import Conflict, Unauthorized, ValidationFailed
from virtuna.models import ApiKey, User
from virtuna.models.base import utcnow
from virtuna.users import repository

KEY_PREFIX = "vt_"
PLANS = ("free", "starter", "pro")
TOUCH_INTERVAL = timedelta(minutes=1)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


@dataclass(frozen=True, slots=True)
class NewUser:
    user: User
    api_key: str


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode("utf-8")).hexdigest()


def _check_email(email: str) -> str:
    normalised = email.strip().lower()
    if len(normalised) > 320 or not _EMAIL.match(normalised):
        raise ValidationFailed(
            f"invalid email address: {email!r}",
            details=[{"field": "email", "message": "not a valid email address"}],
        )
    return normalised


def _check_plan(plan: str) -> str:
    if plan not in PLANS:
        raise ValidationFailed(
            f"unknown plan {plan!r}; choose one of {', '.join(PLANS)}",
            details=[{"field": "plan", "message": f"must be one of {', '.join(PLANS)}"}],
        )
    return plan


async def create_user(
    session: AsyncSession, *, email: str, is_admin: bool = False, plan: str = "free"
) -> NewUser:
    address = _check_email(email)
    _check_plan(plan)
    if await repository.get_by_email(session, address) is not None:
        raise Conflict(f"a user with email {address} already exists")
    user = User(email=address, is_admin=is_admin, plan=plan)
    session.add(user)
    await session.flush()
    raw = await issue_key(session, user=user)
    return NewUser(user=user, api_key=raw)


async def issue_key(session: AsyncSession, *, user: User) -> str:
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(user_id=user.id, prefix=raw[:10], key_hash=hash_key(raw)))
    await session.flush()
    return raw


async def list_users(session: AsyncSession) -> Sequence[User]:
    return await repository.list_users(session)


async def identify(session: AsyncSession, *, raw_key: str) -> tuple[User, ApiKey]:
    """The user owning an active key and the key, or ``Unauthorized``; reads only."""
    if not raw_key.startswith(KEY_PREFIX) or len(raw_key) > 200:
        raise Unauthorized("invalid or missing API key")
    digest = hash_key(raw_key)
    found = await repository.find_active_key(session, digest)
    if found is None or not hmac.compare_digest(found[0].key_hash, digest):
        raise Unauthorized("invalid or missing API key")
    key, user = found
    return user, key


def needs_touch(key: ApiKey, now: datetime) -> bool:
    """``last_used_at`` is kept to the minute: writing it on every request would put a write
    (a row lock, on SQLite the database's write lock) into every request."""
    last = key.last_used_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    return last is None or now - last >= TOUCH_INTERVAL


async def touch(session: AsyncSession, *, key: ApiKey, now: datetime) -> None:
    """Record a use of ``key`` (conditional: concurrent touches of one key write once)."""
    await repository.touch_key(session, key.id, now, stale_before=now - TOUCH_INTERVAL)


async def authenticate(session: AsyncSession, *, raw_key: str) -> User:
    """The user owning an active key, or ``Unauthorized`` (one message for every failure);
    the key's ``last_used_at`` is touched in the same transaction when it is stale."""
    user, key = await identify(session, raw_key=raw_key)
    now = utcnow()
    if needs_touch(key, now):
        await touch(session, key=key, now=now)
    return user


async def revoke_keys(session: AsyncSession, *, user: User) -> int:
    return await repository.revoke_keys(session, user.id, utcnow())


LOCAL_USER_EMAIL = "local@virtuna.local"


async def local_user(session: AsyncSession) -> User:
    """The owner of analyses made from the command line (created on first use, no key)."""
    user = await repository.get_by_email(session, LOCAL_USER_EMAIL)
    if user is None:
        user = User(email=LOCAL_USER_EMAIL, is_admin=False, plan="pro")
        session.add(user)
        await session.flush()
    return user
