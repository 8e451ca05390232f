"""Fixtures for operations tests (cron, jobs API, Whop, quotas, metrics): a fresh database
per test on each backend, and the real request transaction (no rolled-back session), since
webhook receivers and quota races need commits that other connections can see."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.service.jobs.conftest import fast_settings, fresh_url  # noqa: F401 - fixture
from virtuna.api.app import create_app
from virtuna.config import Settings
from virtuna.kit.db import create_engine, create_session_factory, unit_of_work
from virtuna.users import service as users
from virtuna.worker.runtime import JobSystem, open_jobs

CRON_SECRET = "cron-test-secret-0123456789"
WHOP_SECRET = "ws_test_5f2b7c9d1e"


def ops_settings_for(url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "CRON_SECRET": CRON_SECRET,
        "WHOP_WEBHOOK_SECRET": WHOP_SECRET,
        "WHOP_PLAN_MAP": "prod_starter:starter,plan_pro:pro",
        "VIRTUNA_PLAN_RATE_LIMITS": "free:unlimited,starter:unlimited,pro:unlimited",
    }
    values.update(overrides)
    return fast_settings(url, data_dir, **values)


@pytest.fixture
def ops_settings(fresh_url: str, tmp_path: Path) -> Settings:  # noqa: F811 - fixture arg
    return ops_settings_for(fresh_url, tmp_path)


@asynccontextmanager
async def client_for(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


@asynccontextmanager
async def app_for(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def ops_client(ops_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(ops_settings) as client:
        yield client


@pytest.fixture
async def ops_system(ops_settings: Settings) -> AsyncIterator[JobSystem]:
    engine = create_engine(ops_settings)
    try:
        async with httpx.AsyncClient() as http:
            async with open_jobs(ops_settings, create_session_factory(engine), http) as system:
                yield system
    finally:
        await engine.dispose()


async def make_user(
    settings: Settings, *, admin: bool = False, plan: str = "free"
) -> tuple[uuid.UUID, str]:
    engine = create_engine(settings)
    try:
        async with unit_of_work(create_session_factory(engine)) as session:
            created = await users.create_user(
                session, email=f"u{uuid.uuid4().hex[:10]}@example.com", is_admin=admin, plan=plan
            )
        return created.user.id, created.api_key
    finally:
        await engine.dispose()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
