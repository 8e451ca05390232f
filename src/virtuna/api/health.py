"""Liveness and readiness."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from virtuna.kit import migrate
from virtuna.kit.db import READ_ONLY
from virtuna.kit.web import get_state

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready"}})
async def readyz(request: Request) -> JSONResponse:
    state = get_state(request)
    checks: dict[str, Any] = {}
    try:
        async with state.engine.connect() as raw:
            conn = await raw.execution_options(**READ_ONLY)
            await conn.execute(text("SELECT 1"))
            current = await conn.run_sync(migrate.current_revision_of)
        head = await asyncio.to_thread(migrate.head_revision, state.settings.resolved_database_url)
        checks = {"database": "ok", "migration": current, "head": head}
        ready = current == head
    except Exception as exc:  # readiness reports, it never raises
        checks = {"database": f"unreachable: {type(exc).__name__}"}
        ready = False
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)
