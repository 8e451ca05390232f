"""Prometheus: request metrics by route template, and the ``/metrics`` endpoint."""

from __future__ import annotations

import hmac
import time
from typing import Any

import sentry_sdk
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from virtuna.errors import Unauthorized
from virtuna.kit.db import READ_ONLY
from virtuna.kit.metrics import HTTP_LATENCY, HTTP_REQUESTS, render
from virtuna.kit.web import get_state
from virtuna.models.jobs import RUN_STATUSES, JobRun

router = APIRouter(include_in_schema=False)
JOBS_BY_STATUS = Gauge(
    "virtuna_job_runs_in_database", "Job runs in the database by status.", ["status"]
)


def _route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    # Unmatched paths share one label: raw URLs would let a scanner explode the cardinality.
    return str(path) if path else "unmatched"


class MetricsMiddleware:
    """Counts and times requests; also tags the request's Sentry scope with its request id
    (Sentry reports crashes outside our logging context, so the contextvar is gone by then)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        request_id = scope.get("state", {}).get("request_id")
        if request_id:
            sentry_sdk.get_isolation_scope().set_tag("request_id", request_id)

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = _route_template(scope)
            method = str(scope.get("method", "GET"))
            HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
            HTTP_LATENCY.labels(method=method, route=route).observe(time.perf_counter() - started)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    state = get_state(request)
    token = state.settings.metrics_token
    if token is not None:
        given = (request.headers.get("authorization") or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
            raise Unauthorized("metrics need the metrics token")
    async with state.sessions() as session:
        await session.connection(execution_options=READ_ONLY)
        counts = dict(
            (await session.execute(select(JobRun.status, func.count()).group_by(JobRun.status)))
            .tuples()
            .all()
        )
    for status in RUN_STATUSES:
        JOBS_BY_STATUS.labels(status=status).set(counts.get(status, 0))
    return Response(render(), media_type=CONTENT_TYPE_LATEST)
