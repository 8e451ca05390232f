"""Sentry set-up shared by the API and the worker: off without a DSN, never leaks secrets.

Events carry the request id, job and run id (from structlog's context, which the request
middleware and the job runner bind) and the user id when known; request bodies (draft text)
are dropped unless ``SENTRY_SEND_DRAFT_TEXT`` allows them; credential headers are masked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sentry_sdk
import structlog
from sentry_sdk.transport import Transport

from virtuna import __version__
from virtuna.config import Settings

SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "cookie",
        "x-api-key",
        "x-goog-api-key",
        "webhook-signature",
        "x-webhook-secret",
        "x-apify-webhook-secret",
    }
)
_CONTEXT_TAGS = ("request_id", "job", "run_id", "stage")
Event = dict[str, Any]


def scrubber(settings: Settings) -> Callable[[Event, dict[str, Any]], Event | None]:
    def before_send(event: Event, hint: dict[str, Any]) -> Event | None:
        request = event.get("request") or {}
        headers = request.get("headers") or {}
        for name in list(headers):
            if name.lower() in SENSITIVE_HEADERS:
                headers[name] = "[Filtered]"
        if not settings.sentry_send_draft_text:
            request.pop("data", None)
        bound = structlog.contextvars.get_contextvars()
        tags = event.setdefault("tags", {})
        for key in _CONTEXT_TAGS:
            if bound.get(key) is not None:
                tags[key] = str(bound[key])
        if bound.get("user_id") is not None:
            event["user"] = {"id": str(bound["user_id"])}  # an opaque id, never the email
        return event

    return before_send


def init_sentry(settings: Settings, *, component: str, transport: Transport | None = None) -> bool:
    """Initialise the SDK if a DSN is set (or a test transport is given); True if enabled."""
    if settings.sentry_dsn is None and transport is None:
        return False
    dsn = settings.sentry_dsn.get_secret_value() if settings.sentry_dsn else None
    sentry_sdk.init(
        dsn=dsn or "https://public@sentry.invalid/1",
        environment=settings.env.value,
        release=f"virtuna@{__version__}",
        traces_sample_rate=settings.sentry_traces_sample_rate,
        before_send=scrubber(settings),  # type: ignore[arg-type]  # sentry's Event TypedDict
        transport=transport,
        max_breadcrumbs=50,
        # Frame locals hold ASGI scopes (auth headers), drafts and keys: never ship them.
        include_local_variables=False,
        # Request bodies carry drafts, form-posted admin keys and video parts: the Starlette
        # integration would otherwise parse (and spool) every small body before the handler.
        max_request_body_size="never",
    )
    sentry_sdk.set_tag("component", component)
    return True


def bind_user(user_id: object) -> None:
    """After authentication: the user's opaque id on every log line of the request (structlog
    context; the request middleware unbinds it) and on the request's Sentry scope (crashes
    are reported after the logging context is gone). Never the email, never draft text."""
    ident = str(user_id)
    structlog.contextvars.bind_contextvars(user_id=ident)
    if sentry_sdk.get_client().is_active():  # per-request scopes exist only when it is on
        sentry_sdk.get_isolation_scope().set_user({"id": ident})


def stage_breadcrumb(stage: str, status: str, duration_ms: float) -> None:
    sentry_sdk.add_breadcrumb(
        category="engine.stage",
        message=f"{stage} {status}",
        level="info" if status == "ok" else "warning",
        data={"stage": stage, "status": status, "duration_ms": duration_ms},
    )
