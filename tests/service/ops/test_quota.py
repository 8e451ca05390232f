"""S7 (atomic quota under concurrency), S8 (per-key rate limit), degraded runs not charged."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import func, select

from tests.service.ops.conftest import bearer, client_for, make_user, ops_settings_for
from virtuna.billing import service
from virtuna.billing.gate import Gate
from virtuna.engine.result import AnalysisResult
from virtuna.errors import RateLimited
from virtuna.kit.db import create_engine, create_session_factory, unit_of_work
from virtuna.models import Analysis, User

DRAFT = {
    "input_mode": "text",
    "content_text": "POV: you finally tried the viral 3-ingredient pasta, wait for it #cooking",
}


async def _analyses(settings: Any) -> int:
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session:
            return int(await session.scalar(select(func.count()).select_from(Analysis)) or 0)
    finally:
        await engine.dispose()


async def test_fifty_concurrent_requests_with_ten_left_accept_exactly_ten(
    fresh_url: str, tmp_path: Path
) -> None:
    """S7 on both backends: the charge is one conditional upsert, so no overshoot."""
    settings = ops_settings_for(fresh_url, tmp_path, VIRTUNA_PLAN_DAILY_QUOTAS="free:10")
    _, key = await make_user(settings)
    async with client_for(settings) as client:
        responses = await asyncio.gather(
            *(client.post("/api/analyze", json=DRAFT, headers=bearer(key)) for _ in range(50))
        )
        codes = Counter(r.status_code for r in responses)
        assert codes == {200: 10, 429: 40}, (codes, responses[0].text)
        refused = next(r for r in responses if r.status_code == 429)
        error = refused.json()["error"]
        assert error["code"] == "quota_exceeded"
        assert error["details"]["limit"] == 10
        resets = datetime.fromisoformat(error["details"]["resets_at"])
        assert resets > datetime.now(UTC)
        assert resets.hour == 0
        assert resets.minute == 0
        assert int(refused.headers["Retry-After"]) >= 1
        quota = (await client.get("/api/profile/quota", headers=bearer(key))).json()
    assert (quota["used"], quota["left"], quota["limit"]) == (10, 0, 10)
    assert await _analyses(settings) == 10  # refused requests stored nothing


async def test_batch_over_quota_stores_nothing(fresh_url: str, tmp_path: Path) -> None:
    settings = ops_settings_for(fresh_url, tmp_path, VIRTUNA_PLAN_DAILY_QUOTAS="free:3")
    _, key = await make_user(settings)
    async with client_for(settings) as client:
        big = await client.post(
            "/api/analyze/batch", json={"drafts": [DRAFT] * 4}, headers=bearer(key)
        )
        assert big.status_code == 429
        assert await _analyses(settings) == 0
        small = await client.post(
            "/api/analyze/batch", json={"drafts": [DRAFT] * 3}, headers=bearer(key)
        )
        assert small.status_code == 200
        one_more = await client.post("/api/analyze", json=DRAFT, headers=bearer(key))
        assert one_more.status_code == 429
    assert await _analyses(settings) == 3


async def test_unlimited_plan_is_counted_but_never_refused(fresh_url: str, tmp_path: Path) -> None:
    settings = ops_settings_for(fresh_url, tmp_path, VIRTUNA_PLAN_DAILY_QUOTAS="free:0,pro:-1")
    _, free_key = await make_user(settings)
    _, pro_key = await make_user(settings, plan="pro")
    async with client_for(settings) as client:
        assert (
            await client.post("/api/analyze", json=DRAFT, headers=bearer(free_key))
        ).status_code == 429
        for _ in range(3):
            ok = await client.post("/api/analyze", json=DRAFT, headers=bearer(pro_key))
            assert ok.status_code == 200
        quota = (await client.get("/api/profile/quota", headers=bearer(pro_key))).json()
    assert (quota["used"], quota["left"], quota["limit"]) == (3, None, None)


async def test_rate_limit_per_key(fresh_url: str, tmp_path: Path) -> None:
    """S8: 30 requests in a burst from one key with a limit of 5/min -> 5 pass, 25 get 429
    with Retry-After; another key is unaffected. Redis configured but down falls back."""
    settings = ops_settings_for(
        fresh_url,
        tmp_path,
        VIRTUNA_PLAN_RATE_LIMITS="free:5",
        VIRTUNA_PLAN_DAILY_QUOTAS="free:unlimited",
        REDIS_URL="redis://127.0.0.1:1/0",
    )
    _, key = await make_user(settings)
    _, other = await make_user(settings)
    async with client_for(settings) as client:
        responses = await asyncio.gather(
            *(client.post("/api/analyze", json=DRAFT, headers=bearer(key)) for _ in range(30))
        )
        codes = Counter(r.status_code for r in responses)
        assert codes == {200: 5, 429: 25}, codes
        limited = next(r for r in responses if r.status_code == 429)
        assert 1 <= int(limited.headers["Retry-After"]) <= 61
        assert (
            await client.post("/api/analyze", json=DRAFT, headers=bearer(other))
        ).status_code == 200


@dataclass
class _Timing:
    stage: str
    status: str
    duration_ms: float = 1.0


@dataclass
class _Result:
    stage_timings: list[_Timing]
    input_mode: str = "text"
    confidence_label: str = "LOW"
    extra: dict[str, Any] = field(default_factory=dict)


async def test_degraded_analyses_are_not_charged(fresh_url: str, tmp_path: Path) -> None:
    settings = ops_settings_for(fresh_url, tmp_path, VIRTUNA_PLAN_DAILY_QUOTAS="free:1")
    user_id, _ = await make_user(settings)
    engine = create_engine(settings)
    try:
        factory = create_session_factory(engine)
        async with unit_of_work(factory) as session:
            user = await session.get(User, user_id)
            assert user is not None
            gate = Gate(settings, user)
            degraded = _Result([_Timing("rules", "ok"), _Timing("reasoning", "timeout")])
            healthy = _Result([_Timing("rules", "ok"), _Timing("reasoning", "ok")])
            for _ in range(3):  # served, not charged
                await gate.charge(session, [cast(AnalysisResult, degraded)])
            await gate.charge(session, [cast(AnalysisResult, healthy)])
            status = await service.quota_status(session, settings=settings, user=user)
            assert status.used == 1
            with pytest.raises(RateLimited) as refused:
                await gate.charge(session, [cast(AnalysisResult, healthy)])
            assert refused.value.details["used"] == 1
    finally:
        await engine.dispose()
