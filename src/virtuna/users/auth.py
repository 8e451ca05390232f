"""Request dependencies that identify the caller: current user and admin gate."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from virtuna.errors import Forbidden, RateLimited, Unauthorized
from virtuna.kit.db import read_phase, write_phase
from virtuna.kit.observability import bind_user
from virtuna.kit.web import Session, get_state
from virtuna.models import User
from virtuna.models.base import utcnow
from virtuna.users import service as users

# Declares the scheme in OpenAPI; parsing failures are ours to report (auto_error=False) so
# every failure gets the same 401 body and counts toward the failed-auth throttle.
bearer_scheme = HTTPBearer(auto_error=False, description="API key from `virtuna users create`")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def current_user(request: Request, session: Session, credentials: Credentials) -> User:
    state = get_state(request)
    address = _client_address(request)
    wait = state.auth_failures.blocked(address)
    if wait is not None:
        raise RateLimited(
            "too many failed authentications; try again later", details={"retry_after": wait}
        )
    try:
        if credentials is None or not credentials.credentials.strip():
            raise Unauthorized("invalid or missing API key")
        # Its own short read-only transaction: the request's work starts with none open,
        # so a route may end its phases (e.g. before an LLM wait) without holding anything.
        async with read_phase(session):
            user, key = await users.identify(session, raw_key=credentials.credentials.strip())
    except Unauthorized:
        state.auth_failures.hit(address)
        raise
    now = utcnow()
    if users.needs_touch(key, now):  # at most about once a minute per key
        async with write_phase(session):
            await users.touch(session, key=key, now=now)
    bind_user(user.id)
    return user


CurrentUser = Annotated[User, Depends(current_user)]


async def admin_user(user: CurrentUser) -> User:
    if not user.is_admin:
        raise Forbidden("admin role required")
    return user


AdminUser = Annotated[User, Depends(admin_user)]
