"""End to end: POST /api/analyze with fake Gemini and DeepSeek servers, the cost ledger, the
admin cost report, and outages (both providers down → LOW confidence, never a 5xx)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.llm.fake_servers import FakeLLMServer
from virtuna.api.app import create_app
from virtuna.config import Settings
from virtuna.kit.db import create_session_factory, unit_of_work
from virtuna.kit.web import get_session
from virtuna.models import Analysis, LLMCall, User
from virtuna.users import service as users

DRAFT = {
    "input_mode": "text",
    "content_type": "video",
    "content_text": "3 mistakes everyone makes with retinol — number 2 ruins your skin barrier "
    "#skincare #skintok",
    "niche": "beauty",
}
LLMClient = Callable[..., Any]


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeLLMServer, FakeLLMServer]]:
    gemini, deepseek = FakeLLMServer(), FakeLLMServer()
    yield gemini, deepseek
    await gemini.close()
    await deepseek.close()


@pytest.fixture
def llm_client(
    test_settings: Settings,
    session: AsyncSession,
    fakes: tuple[FakeLLMServer, FakeLLMServer],
) -> LLMClient:
    """An API client whose engine talks to the fake servers (settings as a user would set)."""

    @asynccontextmanager
    async def open_client(
        *, shared_session: bool = True, **overrides: Any
    ) -> AsyncIterator[httpx.AsyncClient]:
        gemini, deepseek = fakes
        settings = test_settings.model_copy(
            update={
                "gemini_api_key": "test-gemini",
                "gemini_base_url": await gemini.start(),
                "deepseek_api_key": "test-deepseek",
                "deepseek_base_url": await deepseek.start(),
                **overrides,
            }
        )
        settings = Settings.model_validate(settings.model_dump(by_alias=False))
        app = create_app(settings)

        async def _session() -> AsyncIterator[AsyncSession]:
            yield session
            await session.commit()

        if shared_session:  # the test's rolled-back session; else one session per request
            app.dependency_overrides[get_session] = _session
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                yield client

    return open_client


async def ledger(session: AsyncSession, analysis_id: str) -> list[LLMCall]:
    rows = await session.scalars(
        select(LLMCall)
        .where(LLMCall.analysis_id == uuid.UUID(analysis_id))
        .order_by(LLMCall.role, LLMCall.attempt)
    )
    return list(rows)


async def test_analysis_with_both_providers(
    llm_client: LLMClient,
    fakes: tuple[FakeLLMServer, FakeLLMServer],
    auth: dict[str, str],
    session: AsyncSession,
) -> None:
    gemini, deepseek = fakes
    async with llm_client() as client:
        response = await client.post("/api/analyze", json=DRAFT, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "gemini:gemini-3.5-flash@content.v1" in body["providers"]
    assert "deepseek:deepseek-flash@reasoning.v1" in body["providers"]
    assert body["signals"]["llm_content"]["available"]
    assert body["signals"]["behavioral"]["available"]
    assert body["behavioral_predictions"]["source"] == "deepseek:deepseek-flash"
    assert body["confidence_label"] in {"HIGH", "MEDIUM"}
    assert not any("language-model" in w for w in body["warnings"])
    rows = await ledger(session, body["id"])
    # L6: one row per upstream attempt the fakes saw
    assert len(rows) == len(gemini.seen) + len(deepseek.seen)
    assert {(r.role, r.provider, r.outcome) for r in rows} >= {
        ("content", "gemini", "ok"),
        ("reasoning", "deepseek", "ok"),
    }
    assert body["cost_cents"] == pytest.approx(sum(r.cost_cents for r in rows))
    assert body["cost_cents"] > 0
    assert all(r.prompt_version.endswith(".v1") for r in rows)


async def test_gemini_down_deepseek_still_answers(
    llm_client: LLMClient,
    fakes: tuple[FakeLLMServer, FakeLLMServer],
    auth: dict[str, str],
    session: AsyncSession,
) -> None:
    gemini, deepseek = fakes
    gemini.mode = "503"
    async with llm_client() as client:
        response = await client.post("/api/analyze", json=DRAFT, headers=auth)
    assert response.status_code == 200
    body = response.json()
    assert "deepseek:deepseek-flash@content.v1" in body["providers"]
    assert not any(p.startswith("gemini") for p in body["providers"])
    rows = await ledger(session, body["id"])
    failed = [r for r in rows if r.provider == "gemini"]
    assert failed
    assert all(r.outcome == "http_error" and r.http_status == 503 for r in failed)
    assert len(rows) == len(gemini.seen) + len(deepseek.seen)


async def test_both_down_gives_low_confidence_not_500(
    llm_client: LLMClient,
    fakes: tuple[FakeLLMServer, FakeLLMServer],
    auth: dict[str, str],
    session: AsyncSession,
) -> None:
    gemini, deepseek = fakes
    gemini.mode, deepseek.mode = "500", "503"
    async with llm_client() as client:
        response = await client.post("/api/analyze", json=DRAFT, headers=auth)
    assert response.status_code == 200
    body = response.json()
    assert body["confidence_label"] == "LOW"
    assert any("Both language-model stages failed" in w for w in body["warnings"])
    assert not body["signals"]["llm_content"]["available"]
    assert body["overall_score"] is not None  # partial result from the local signals
    rows = await ledger(session, body["id"])
    upstream = [r for r in rows if r.outcome != "breaker_open"]
    assert len(upstream) == len(gemini.seen) + len(deepseek.seen)  # L6 with failures
    assert body["cost_cents"] == 0


@pytest.fixture
async def committed_users(
    db_engine: AsyncEngine, database_url: str
) -> AsyncIterator[list[dict[str, str]]]:
    """50 users visible to other connections (concurrent requests need their own sessions),
    removed afterwards with everything they created. One key each: authentication updates
    the key's ``last_used_at`` in the request transaction, so requests sharing a key queue
    on that row lock for their whole duration (reported, owned by ``users``)."""
    factory = create_session_factory(db_engine)
    async with unit_of_work(factory) as s:
        created = [
            # pro: no daily quota, and a rate limit the test stays under
            await users.create_user(s, email=f"load{uuid.uuid4().hex[:8]}@example.com", plan="pro")
            for _ in range(50)
        ]
    yield [{"Authorization": f"Bearer {c.api_key}"} for c in created]
    ids = [c.user.id for c in created]
    async with unit_of_work(factory) as s:
        analyses = select(Analysis.id).where(Analysis.user_id.in_(ids))
        await s.execute(delete(LLMCall).where(LLMCall.analysis_id.in_(analyses)))
        await s.execute(delete(Analysis).where(Analysis.user_id.in_(ids)))
        await s.execute(delete(User).where(User.id.in_(ids)))


# PostgreSQL only (SQLite runs are deselected in conftest): on SQLite the request
# transaction holds the write lock across the LLM wait, so concurrent analyses serialise.
@pytest.mark.postgres_only
async def test_fault_injection_hanging_provider_under_load(
    llm_client: LLMClient,
    fakes: tuple[FakeLLMServer, FakeLLMServer],
    committed_users: list[dict[str, str]],
    db_engine: AsyncEngine,
) -> None:
    """50 concurrent analyses while the content provider hangs and the other answers 500:
    every one answers 200 with LOW confidence, its engine run ends at the LLM deadline, and
    every analysis and its ledger rows are stored."""
    gemini, deepseek = fakes
    gemini.mode, deepseek.mode = "hang", "500"
    deadline = 2.0
    # Each in-flight analysis holds a pooled connection across its LLM wait (the request's
    # transaction spans it), so the pool must fit the concurrency: see docs/ARCHITECTURE.md.
    async with llm_client(
        shared_session=False, llm_deadline_seconds=deadline, db_pool_size=55
    ) as client:

        async def one(headers: dict[str, str]) -> tuple[float, httpx.Response]:
            started = time.monotonic()
            response = await client.post("/api/analyze", json=DRAFT, headers=headers)
            return time.monotonic() - started, response

        results = await asyncio.gather(*(one(h) for h in committed_users))
    assert [r.status_code for _, r in results] == [200] * 50
    # The deadline + 1 s holds inside the engine (measured 2.0–2.6 s); the service's own work
    # (auth, quota, reads, inserts, 50 commits on one event loop) comes on top: measured
    # 0.6–1.7 s more on 2 shared cores, hence the loose end-to-end bound.
    assert max(r.json()["latency_ms"] for _, r in results) < (deadline + 1.0) * 1000
    assert max(t for t, _ in results) < deadline + 3.0
    assert {r.json()["confidence_label"] for _, r in results} == {"LOW"}
    ids = [uuid.UUID(r.json()["id"]) for _, r in results]
    async with create_session_factory(db_engine)() as s:
        analyses = await s.scalar(select(func.count()).where(Analysis.id.in_(ids)))
        attempts = await s.scalar(
            select(func.count())
            .where(LLMCall.analysis_id.in_(ids))
            .where(LLMCall.outcome != "breaker_open")
        )
    assert analyses == 50
    assert attempts == len(gemini.seen) + len(deepseek.seen)  # nothing lost


async def test_admin_cost_report(
    llm_client: LLMClient, auth: dict[str, str], session: AsyncSession
) -> None:
    admin = await users.create_user(
        session, email=f"a{uuid.uuid4().hex[:6]}@example.com", is_admin=True
    )
    admin_auth = {"Authorization": f"Bearer {admin.api_key}"}
    async with llm_client() as client:
        await client.post("/api/analyze", json=DRAFT, headers=auth)
        await client.post("/api/analyze", json=DRAFT, headers=auth)
        denied = await client.get("/api/admin/costs", headers=auth)
        report = await client.get("/api/admin/costs?days=30", headers=admin_auth)
        by_provider = await client.get(
            "/api/admin/costs", params={"group_by": "provider"}, headers=admin_auth
        )
        bad = await client.get("/api/admin/costs?days=0", headers=admin_auth)
    assert denied.status_code == 403
    assert bad.status_code == 422
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["group_by"] == ["day", "model"]
    models = {row["model"] for row in body["rows"]}
    assert {"gemini-3.5-flash", "deepseek-flash"} <= models
    total = sum(row["cost_cents"] for row in body["rows"])
    assert total == pytest.approx(body["total_cost_cents"])
    assert total != round(total)  # fractional cents are kept
    providers = {row["provider"] for row in by_provider.json()["rows"]}
    assert providers >= {"gemini", "deepseek"}
