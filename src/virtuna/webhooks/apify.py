"""`POST /api/webhooks/apify`: verify the secret header, store the delivery once, defer.

Apify does not sign deliveries, so the only proof is the secret we put in the run's
``headersTemplate``; it is compared in constant time, and with no secret configured every
delivery is refused (the earlier system accepted anything then — ENGINE_SPEC §8.13). The
payload is never trusted beyond naming a run id: the ingest job re-reads the run from the
Apify API. Retries of one run event share the key ``(eventType, run id)``, so Apify's up to
11 redeliveries store one row and queue one job (a queueing lock collapses concurrent ones).
A database failure answers 5xx, so Apify delivers again later.
"""

from __future__ import annotations

import hmac
import json
import uuid
from datetime import datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.config import Settings
from virtuna.errors import BadRequest, ServiceUnavailable, Unauthorized, ValidationFailed
from virtuna.jobs import JobQueue
from virtuna.kit.metrics import WEBHOOKS
from virtuna.kit.web import ERRORS_INPUT, Session, get_state
from virtuna.models import ExternalEvent
from virtuna.videos.apify import SECRET_HEADER
from virtuna.videos.tasks import INGEST_TASK
from virtuna.webhooks.store import store_event

log = structlog.get_logger("virtuna.webhooks.apify")
router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])
SOURCE = "apify"


class _EventData(BaseModel):
    actor_run_id: str = Field(alias="actorRunId", min_length=1, max_length=64)


class ApifyDelivery(BaseModel):
    """The fields we read from a delivery; everything else is stored but not believed."""

    event_type: str = Field(alias="eventType", pattern=r"^ACTOR\.RUN\.[A-Z_]+$", max_length=64)
    event_data: _EventData = Field(alias="eventData")


class WebhookAck(BaseModel):
    received: bool
    duplicate: bool
    queued: bool


def verify_secret(settings: Settings, presented: str | None) -> None:
    expected = settings.apify_webhook_secret
    if expected is None or not expected.get_secret_value():
        raise Unauthorized("Apify webhook refused: APIFY_WEBHOOK_SECRET is not configured")
    if presented is None or not hmac.compare_digest(
        presented.encode(), expected.get_secret_value().encode()
    ):
        raise Unauthorized("invalid webhook secret")


async def _payload(request: Request) -> tuple[dict[str, Any], ApifyDelivery]:
    try:
        raw = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest("body is not JSON") from exc
    if not isinstance(raw, dict):
        raise BadRequest("body must be a JSON object")
    try:
        return raw, ApifyDelivery.model_validate(raw)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        raise ValidationFailed("not an Apify run event", details=details) from exc


def _queue(request: Request) -> JobQueue:
    queue: JobQueue | None = get_state(request).extras.get("jobs")
    if queue is None:
        # No queue means nobody would process the event: make Apify deliver again later.
        raise ServiceUnavailable("job queue not available")
    return queue


async def _store(
    session: AsyncSession, delivery: ApifyDelivery, external_id: str, raw: dict[str, Any]
) -> tuple[uuid.UUID, bool, datetime | None]:
    """Store the delivery once and commit; (event id, new?, handled at). A database that is
    down or locked answers 503 so that Apify delivers again later (W4)."""
    try:
        event_id, new = await store_event(
            session,
            source=SOURCE,
            external_id=external_id,
            event_type=delivery.event_type,
            payload=raw,
        )
        # Committed before deferring: the job must find the row, and a lost defer is repaired
        # by Apify's redelivery (the event is still unhandled then, so it is deferred again).
        # Read before committing: on SQLite a read after the commit would open a new write
        # transaction and hold the lock the queue's own connection needs to defer.
        handled = await session.scalar(
            select(ExternalEvent.handled_at).where(ExternalEvent.id == event_id)
        )
        await session.commit()
    except (OperationalError, InterfaceError) as exc:
        log.warning("webhook.apify.db_unavailable", error=str(exc.orig or exc)[:200])
        raise ServiceUnavailable("database unavailable: deliver again later") from exc
    return event_id, new, handled


# The body is read by hand (the raw delivery is stored as sent); this documents its shape.
_BODY_SCHEMA = {
    "type": "object",
    "required": ["eventType", "eventData"],
    "properties": {
        "eventType": {"type": "string", "pattern": r"^ACTOR\.RUN\.[A-Z_]+$", "maxLength": 64},
        "eventData": {
            "type": "object",
            "required": ["actorRunId"],
            "properties": {"actorRunId": {"type": "string", "minLength": 1, "maxLength": 64}},
        },
    },
}


@router.post(
    "/apify",
    status_code=202,
    response_model=WebhookAck,
    responses={
        **ERRORS_INPUT,
        400: ERRORS_INPUT[422] | {"description": "Body is not a JSON object"},
        503: ERRORS_INPUT[422]
        | {"description": "Job queue or database unavailable; Apify retries"},
    },
    openapi_extra={
        "security": [],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _BODY_SCHEMA}},
        },
    },
)
async def apify_webhook(
    request: Request,
    session: Session,
    secret: Annotated[str | None, Header(alias=SECRET_HEADER)] = None,
) -> WebhookAck:
    """Receive a run event from Apify (secret header required)."""
    try:
        verify_secret(get_state(request).settings, secret)
    except Unauthorized:
        WEBHOOKS.labels(source=SOURCE, outcome="rejected").inc()
        raise
    queue = _queue(request)
    raw, delivery = await _payload(request)
    run_id = delivery.event_data.actor_run_id
    external_id = f"{delivery.event_type}:{run_id}"
    event_id, new, handled = await _store(session, delivery, external_id, raw)
    job_id = None
    if handled is None:
        job_id = await queue.defer(
            INGEST_TASK,
            args={"run_id": run_id, "event_id": str(event_id)},
            queueing_lock=f"apify-ingest:{external_id}",
            lock=f"apify-run:{run_id}",
        )
    log.info(
        "webhook.apify.received" if new else "webhook.apify.duplicate",
        run_id=run_id,
        event_type=delivery.event_type,
        dispatch_id=request.headers.get("x-apify-webhook-dispatch-id"),
        queued=job_id is not None,
    )
    WEBHOOKS.labels(source=SOURCE, outcome="new" if new else "duplicate").inc()
    return WebhookAck(received=True, duplicate=not new, queued=job_id is not None)
