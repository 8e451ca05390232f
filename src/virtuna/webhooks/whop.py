"""`POST /api/webhooks/whop`: verify (Standard Webhooks), store once per webhook-id, defer.

Whop signs with the UTF-8 bytes of the secret exactly as its dashboard shows it (``ws_…``
prefix included), so the ``standardwebhooks`` key is base64 of those bytes (INTEGRATIONS.md
§4). The library checks the 5-minute timestamp tolerance and compares signatures in constant
time. Every verification failure is a 401 and stores nothing; a replayed webhook-id is
acknowledged and changes nothing (the row exists; once handled, no job is queued again).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import structlog
from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from virtuna.config import Settings
from virtuna.errors import BadRequest, ServiceUnavailable, Unauthorized
from virtuna.jobs import JobQueue
from virtuna.kit.metrics import WEBHOOKS
from virtuna.kit.web import ERRORS_INPUT, Session, get_state
from virtuna.models import ExternalEvent
from virtuna.webhooks.store import store_event

log = structlog.get_logger("virtuna.webhooks.whop")
router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])
SOURCE = "whop"
PROCESS_TASK = "process-whop-event"


class WhopAck(BaseModel):
    received: bool
    duplicate: bool
    queued: bool


def verify(settings: Settings, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """The verified JSON envelope, or ``Unauthorized`` / ``BadRequest``."""
    secret = settings.whop_webhook_secret
    if secret is None or not secret.get_secret_value():
        raise Unauthorized("Whop webhook refused: WHOP_WEBHOOK_SECRET is not configured")
    key = base64.b64encode(secret.get_secret_value().encode()).decode()
    try:
        Webhook(key).verify(body, headers, json_parse=False)
    except (WebhookVerificationError, ValueError, UnicodeDecodeError) as exc:
        WEBHOOKS.labels(source=SOURCE, outcome="rejected").inc()
        # One message for every failure: which check failed is of no use to a forger.
        raise Unauthorized("invalid webhook signature") from exc
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise BadRequest("body is not JSON") from exc
    if not isinstance(payload, dict):
        raise BadRequest("body must be a JSON object")
    return payload


def _queue(request: Request) -> JobQueue:
    queue: JobQueue | None = get_state(request).extras.get("jobs")
    if queue is None:  # nobody would process it: let Whop deliver again later
        raise ServiceUnavailable("job queue not available")
    return queue


@router.post(
    "/whop",
    status_code=202,
    response_model=WhopAck,
    responses=ERRORS_INPUT,
    openapi_extra={"security": []},
)
async def whop_webhook(request: Request, session: Session) -> WhopAck:
    """Receive a Whop event (Standard Webhooks signature required)."""
    body = await request.body()
    payload = verify(get_state(request).settings, body, dict(request.headers))
    queue = _queue(request)
    webhook_id = request.headers["webhook-id"][:200]
    event_type = str(payload.get("type") or "unknown")[:100]
    event_id, new = await store_event(
        session, source=SOURCE, external_id=webhook_id, event_type=event_type, payload=payload
    )
    handled = await session.scalar(
        select(ExternalEvent.handled_at).where(ExternalEvent.id == event_id)
    )
    # Commit before deferring, and touch the session no more: the job must find the row, and
    # on SQLite an open transaction here would hold the write lock the deferral needs.
    await session.commit()
    queued = False
    if handled is None:
        queued = (
            await queue.defer(
                PROCESS_TASK, args={"event_id": str(event_id)}, queueing_lock=f"whop:{event_id}"
            )
            is not None
        )
    WEBHOOKS.labels(source=SOURCE, outcome="new" if new else "duplicate").inc()
    log.info(
        "webhook.whop.received" if new else "webhook.whop.duplicate",
        webhook_id=webhook_id,
        event_type=event_type,
        queued=queued,
    )
    return WhopAck(received=True, duplicate=not new, queued=queued)
