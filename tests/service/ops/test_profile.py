"""`GET /api/profile`: the caller with plan, quota used/left and reset time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.service.ops.conftest import bearer, client_for, make_user, ops_settings_for

DRAFT = {"input_mode": "text", "content_text": "POV: the 3-ingredient pasta, wait for it #cooking"}


async def test_profile_reports_plan_and_quota(fresh_url: str, tmp_path: Path) -> None:
    settings = ops_settings_for(fresh_url, tmp_path, VIRTUNA_PLAN_DAILY_QUOTAS="free:3,pro:-1")
    user_id, key = await make_user(settings)
    async with client_for(settings) as client:
        assert (await client.get("/api/profile")).status_code == 401
        before = (await client.get("/api/profile", headers=bearer(key))).json()
        assert before["id"] == str(user_id)
        assert before["plan"] == "free"
        assert before["quota"]["limit"] == 3
        assert before["quota"]["used"] == 0
        assert before["quota"]["left"] == 3
        scored = await client.post("/api/analyze", json=DRAFT, headers=bearer(key))
        assert scored.status_code == 200, scored.text
        after = (await client.get("/api/profile", headers=bearer(key))).json()
    assert after["quota"]["used"] == 1
    assert after["quota"]["left"] == 2
    resets = datetime.fromisoformat(after["quota"]["resets_at"])
    now = datetime.now(UTC)
    assert now < resets <= now + timedelta(days=1)  # the next UTC midnight


async def test_unlimited_plan_has_no_left(fresh_url: str, tmp_path: Path) -> None:
    settings = ops_settings_for(fresh_url, tmp_path, VIRTUNA_PLAN_DAILY_QUOTAS="free:3,pro:-1")
    _, key = await make_user(settings, plan="pro")
    async with client_for(settings) as client:
        body = (await client.get("/api/profile", headers=bearer(key))).json()
    assert body["plan"] == "pro"
    assert body["quota"]["limit"] is None
    assert body["quota"]["left"] is None
