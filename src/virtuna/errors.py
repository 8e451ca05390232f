"""One error tree for the service. Each error carries its HTTP meaning.

    AppError (500)
    ├── BadRequest (400)
    │   └── ValidationFailed (422)      details: [{"field", "message"}]
    ├── Unauthorized (401)
    ├── Forbidden (403)
    ├── NotFound (404)                  also for another user's resources
    ├── Conflict (409)
    ├── PayloadTooLarge (413)
    ├── UnsupportedMediaType (415)
    ├── RateLimited (429)               details: {"retry_after": seconds}
    └── ServiceUnavailable (503)

The API renders every one as ``{"error": {"code", "message", "details"}}``; the CLI prints
``message`` on one line and exits 1. Engine failures live in ``virtuna.engine.errors`` and
are translated at the service boundary.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status_code: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"


class ValidationFailed(BadRequest):
    status_code = 422
    code = "validation_failed"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"


class RateLimited(AppError):
    status_code = 429
    code = "rate_limited"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"
