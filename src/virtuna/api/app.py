"""The FastAPI app factory and its lifespan.

Everything that connects (database engine, HTTP client, model bundle) is built in the
lifespan and disposed after it; importing this module connects to nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import structlog
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from virtuna import __version__
from virtuna.api import health
from virtuna.api.errors import install_error_handlers
from virtuna.api.metrics import MetricsMiddleware
from virtuna.api.metrics import router as metrics_router
from virtuna.api.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from virtuna.billing.endpoints import router as billing_router
from virtuna.config import Environment, Settings, get_settings
from virtuna.costs.endpoints import router as costs_router
from virtuna.dashboard.endpoints import router as dashboard_router
from virtuna.jobs.endpoints import router as jobs_router
from virtuna.kit.db import create_engine, create_session_factory
from virtuna.kit.observability import init_sentry
from virtuna.kit.ratelimit import SlidingWindowLimiter
from virtuna.kit.startup import migrate_database
from virtuna.kit.web import AppState
from virtuna.outcomes.endpoints import router as outcomes_router
from virtuna.predictions.endpoints import router as predictions_router
from virtuna.predictions.engine_factory import engine_hook
from virtuna.predictions.llm_factory import llm_hook
from virtuna.trends.endpoints import router as trends_router
from virtuna.users.endpoints import router as users_router
from virtuna.webhooks.apify import router as apify_webhook_router
from virtuna.webhooks.whop import router as whop_webhook_router
from virtuna.worker.runtime import jobs_hook

log = structlog.get_logger("virtuna.api")
Hook = Callable[[AppState], AbstractAsyncContextManager[None]]


def _routers() -> Iterable[APIRouter]:
    yield health.router
    yield metrics_router
    yield jobs_router
    yield billing_router
    yield whop_webhook_router
    yield users_router
    yield predictions_router
    yield outcomes_router
    yield costs_router
    yield trends_router
    yield apify_webhook_router
    yield dashboard_router


def _lifespan(settings: Settings, hooks: Iterable[Hook]) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.auto_migrate:
            await asyncio.to_thread(migrate_database, settings)
        engine = create_engine(settings, one_loop=True)
        state = AppState(
            settings=settings,
            engine=engine,
            sessions=create_session_factory(engine),
            http=httpx.AsyncClient(timeout=httpx.Timeout(10.0), follow_redirects=False),
            auth_failures=SlidingWindowLimiter(settings.auth_failures_per_minute, 60.0),
        )
        app.state.virtuna = state
        log.info("app.started", database=engine.url.render_as_string(hide_password=True))
        try:
            async with _enter_hooks(state, hooks):
                yield
        finally:
            await state.http.aclose()
            await engine.dispose()
            log.info("app.stopped")

    return lifespan


@asynccontextmanager
async def _enter_hooks(state: AppState, hooks: Iterable[Hook]) -> AsyncIterator[None]:
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:
        for hook in hooks:
            await stack.enter_async_context(hook(state))
        yield


def create_app(settings: Settings | None = None, *, hooks: Iterable[Hook] = ()) -> FastAPI:
    settings = settings or get_settings()
    init_sentry(settings, component="api")  # a no-op without SENTRY_DSN
    public_docs = settings.env is not Environment.PRODUCTION
    app = FastAPI(
        title="Virtuna",
        version=__version__,
        summary="Predict how a TikTok draft will perform, before posting.",
        lifespan=_lifespan(settings, [engine_hook, llm_hook, jobs_hook, *hooks]),
        docs_url="/docs" if public_docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if public_docs else None,
    )
    install_error_handlers(app)
    for router in _routers():
        app.include_router(router)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_request_kb * 1024,
        exempt_prefixes=("/api/uploads",),
        # A video upload: its limit plus room for the draft's form fields.
        upload_paths=("/api/analyze",),
        upload_max_bytes=(settings.max_upload_mb + 1) * 1024 * 1024,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        )
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestContextMiddleware)
    return app
