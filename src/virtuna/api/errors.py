"""One place that turns exceptions into the JSON error body."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from virtuna.errors import AppError

log = structlog.get_logger("virtuna.api")


def _body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    headers = {}
    if isinstance(exc.details, dict) and "retry_after" in exc.details:
        headers["Retry-After"] = str(int(exc.details["retry_after"]) + 1)
    if exc.status_code >= 500:
        log.error("api.error", code=exc.code, message=exc.message)
    return JSONResponse(exc.to_body(), status_code=exc.status_code, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"field": _field_name(tuple(err.get("loc", ()))), "message": str(err.get("msg", ""))}
        for err in exc.errors()
    ]
    fields = ", ".join(sorted({d["field"] for d in details}))
    return JSONResponse(
        _body("validation_failed", f"invalid request: {fields}", details), status_code=422
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
        exc.status_code, "http_error"
    )
    return JSONResponse(
        _body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    log.exception("api.unhandled", path=request.url.path)
    return JSONResponse(_body("internal_error", "internal server error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unhandled)
