"""``GET /admin``: the admin dashboard (HTML with inline SVG charts), and its cookie login.

Admins authenticate with ``Authorization: Bearer <key>`` (scripts, tests) or with the
short-lived session cookie set by ``POST /admin/session`` (browsers; see ``session.py``).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from virtuna.config import Environment
from virtuna.dashboard import page, service
from virtuna.dashboard import session as cookies
from virtuna.errors import Forbidden, Unauthorized, ValidationFailed
from virtuna.kit.db import READ_ONLY
from virtuna.kit.web import ERRORS_ADMIN, Session, get_state
from virtuna.models import User
from virtuna.users.auth import Credentials, current_user
from virtuna.users.service import hash_key

router = APIRouter(tags=["admin"])


async def dashboard_admin(request: Request, session: Session, credentials: Credentials) -> User:
    """An admin, from the session cookie or else the Bearer key: 401 unknown, 403 not admin."""
    settings = get_state(request).settings
    raw = request.cookies.get(cookies.COOKIE)
    key_id = cookies.verify(settings, raw) if raw else None
    user = None
    if key_id is not None:
        async with get_state(request).sessions() as reader:
            await reader.connection(execution_options=READ_ONLY)
            user = await cookies.session_user(reader, key_id)
    if user is None:
        user = await current_user(request, session, credentials)
    if not user.is_admin:
        raise Forbidden("admin role required")
    return user


DashboardAdmin = Annotated[User, Depends(dashboard_admin)]


def _model(request: Request) -> tuple[str | None, dict[str, Any] | None]:
    engine = get_state(request).extras.get("engine")
    meta = getattr(getattr(engine, "predictor", None), "meta", None)
    if meta is None:
        return None, None
    return str(meta.version), dict(meta.metrics)


@router.get("/admin", response_class=HTMLResponse, responses=ERRORS_ADMIN)
async def dashboard(request: Request, _: DashboardAdmin) -> HTMLResponse:
    """Confidence distribution, LLM cost per day and model, job runs, the latest calibration
    reliability diagram and score drift against the served model's reference."""
    version, metrics = _model(request)
    # Its own read-only transaction: never waits on (or blocks) SQLite writers.
    async with get_state(request).sessions() as session:
        await session.connection(execution_options=READ_ONLY)
        data = await service.build(session, model_version=version, model_metrics=metrics)
    return HTMLResponse(page.render(data))


@router.get("/admin/login", response_class=HTMLResponse, include_in_schema=False)
async def login_form() -> HTMLResponse:
    return HTMLResponse(page.LOGIN_PAGE)


async def _form_key(request: Request) -> str:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise ValidationFailed("send the key as a form field (application/x-www-form-urlencoded)")
    fields = parse_qs((await request.body()).decode("utf-8", "replace"))
    return (fields.get("api_key") or [""])[0].strip()


@router.post("/admin/session", include_in_schema=False)
async def open_session(request: Request, session: Session) -> Response:
    """Exchange an admin API key (form body, never the URL) for a 30-minute cookie."""
    raw_key = await _form_key(request)
    credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=raw_key or " ")
    user = await current_user(request, session, credentials)  # 401 + failed-auth throttle
    if not user.is_admin:
        raise Forbidden("admin role required")
    key_id = await cookies.key_id_for(session, user, hash_key(raw_key))
    if key_id is None:  # revoked between the two reads
        raise Unauthorized("invalid or missing API key")
    state = get_state(request)
    response = RedirectResponse("/admin", status_code=303)
    response.set_cookie(
        cookies.COOKIE,
        cookies.issue(state.settings, key_id),
        max_age=cookies.LIFETIME_SECONDS,
        path="/admin",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https" or state.settings.env is Environment.PRODUCTION,
    )
    return response


@router.post("/admin/logout", include_in_schema=False)
async def close_session() -> Response:
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(cookies.COOKIE, path="/admin")
    return response
