"""A short-lived signed session cookie for the dashboard, so a browser can navigate to it.

Browsers cannot attach an ``Authorization`` header to a navigation, and an API key must
never travel in a URL. ``POST /admin/session`` takes the admin key in a form body and sets
``virtuna_admin``: ``<api-key id>.<expiry>.<HMAC-SHA256>``, HttpOnly, SameSite=Strict,
scoped to ``/admin``, Secure over HTTPS. Each request re-checks the signature (constant
time), the expiry, that the key is not revoked and that its user is still an admin.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.config import Settings
from virtuna.models import ApiKey, User

COOKIE = "virtuna_admin"
LIFETIME_SECONDS = 30 * 60
_PROCESS_KEY = secrets.token_bytes(32)


def _key(settings: Settings) -> bytes:
    if settings.session_secret is not None and settings.session_secret.get_secret_value():
        return hashlib.sha256(
            b"dashboard-session:" + settings.session_secret.get_secret_value().encode()
        ).digest()
    return _PROCESS_KEY


def _mac(settings: Settings, payload: str) -> str:
    return hmac.new(_key(settings), payload.encode(), hashlib.sha256).hexdigest()


def issue(settings: Settings, key_id: uuid.UUID, *, now: float | None = None) -> str:
    expires = int((now if now is not None else time.time()) + LIFETIME_SECONDS)
    payload = f"{key_id.hex}.{expires}"
    return f"{payload}.{_mac(settings, payload)}"


def verify(settings: Settings, value: str, *, now: float | None = None) -> uuid.UUID | None:
    """The API key id the cookie was issued for, or None if forged, malformed or expired."""
    parts = value.split(".")
    if len(parts) != 3:
        return None
    key_hex, expires, mac = parts
    if not hmac.compare_digest(mac.encode(), _mac(settings, f"{key_hex}.{expires}").encode()):
        return None
    try:
        key_id, expiry = uuid.UUID(hex=key_hex), int(expires)
    except ValueError:
        return None
    if expiry < (now if now is not None else time.time()):
        return None
    return key_id


async def session_user(session: AsyncSession, key_id: uuid.UUID) -> User | None:
    """The user behind a still-active key (revoking the key ends its dashboard sessions)."""
    found = await session.execute(
        select(User)
        .join(ApiKey, ApiKey.user_id == User.id)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
    )
    return found.scalar_one_or_none()


async def key_id_for(session: AsyncSession, user: User, key_hash: str) -> uuid.UUID | None:
    found = await session.scalar(
        select(ApiKey.id).where(ApiKey.user_id == user.id, ApiKey.key_hash == key_hash)
    )
    return found
