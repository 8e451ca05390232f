"""Outcomes: reporting, ownership, validation, pending prompts, the track record."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.models import Analysis, Outcome, OutcomeFollowUp
from virtuna.predictions.calibration import clear_cache
from virtuna.users import service as users

DRAFT = {
    "input_mode": "text",
    "content_text": "Three knife skills every home cook needs #cooking #kitchentips",
    "creator_handle": "@chef.sam",
    "creator_followers": 250_000,
}
URL = "https://www.tiktok.com/@chef.sam/video/7312345678901234567"


@pytest.fixture(autouse=True)
def _fresh_calibrator_cache() -> Iterator[None]:
    # Rows of a rolled-back test must not be served from the cache to the next test.
    clear_cache()
    yield
    clear_cache()


async def backdate(session: AsyncSession, analysis_id: str, days: float) -> datetime:
    """Pretend the analysis was made (and the post planned) ``days`` ago."""
    when = datetime.now(UTC) - timedelta(days=days)
    await session.execute(
        update(Analysis)
        .where(Analysis.id == uuid.UUID(analysis_id))
        .values(created_at=when, scheduled_for=when)
    )
    await session.flush()
    return when


async def analyze(client: httpx.AsyncClient, auth: dict[str, str], **extra: Any) -> str:
    response = await client.post("/api/analyze", json=DRAFT | extra, headers=auth)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def test_report_replay_and_conflict(
    client: httpx.AsyncClient, auth: dict[str, str], session: AsyncSession
) -> None:
    analysis_id = await analyze(client, auth)
    observed = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    body = {"analysis_id": analysis_id, "views": 12_000, "likes": 900, "observed_at": observed,
            "hours_since_posting": 30}  # fmt: skip
    first = await client.post("/api/outcomes", json=body, headers=auth)
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["views"] == 12_000
    assert created["hours_since_posting"] == 30
    assert created["observed_tier"] == 1  # 12K views is below the 52.3K cut-off
    again = await client.post("/api/outcomes", json=body, headers=auth)
    assert again.status_code == 200
    assert again.json()["id"] == created["id"]
    clash = await client.post("/api/outcomes", json=body | {"views": 13_000}, headers=auth)
    assert clash.status_code == 409
    count = await session.scalar(
        select(func.count())
        .select_from(Outcome)
        .where(Outcome.analysis_id == uuid.UUID(analysis_id))
    )
    assert count == 1


async def test_only_the_owner_may_report(
    client: httpx.AsyncClient, auth: dict[str, str], session: AsyncSession
) -> None:
    analysis_id = await analyze(client, auth)
    other = await users.create_user(session, email=f"o{uuid.uuid4().hex[:6]}@example.com")
    response = await client.post(
        "/api/outcomes",
        json={"analysis_id": analysis_id, "views": 10},
        headers={"Authorization": f"Bearer {other.api_key}"},
    )
    assert response.status_code == 404
    missing = await client.post(
        "/api/outcomes", json={"analysis_id": str(uuid.uuid4()), "views": 10}, headers=auth
    )
    assert missing.status_code == 404
    assert await session.scalar(select(func.count()).select_from(Outcome)) == 0


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"views": -1}, "views"),
        ({"views": 12.5}, "views"),
        ({"views": 10**12}, "views"),
        ({"completion_rate": 1.5}, "completion_rate"),
        ({"posted_url": "https://evil.example.com/@a/video/1234567"}, "posted_url"),
        ({"posted_url": "https://www.tiktok.com@evil.com/@a/video/1234567"}, "posted_url"),
        ({"views": 10, "likes": 11}, "likes"),
        ({"views": None}, "posted_url"),  # nothing at all to record
        ({"observed_at": "2999-01-01T00:00:00Z"}, "observed_at"),
        ({"observed_at": "2001-01-01T00:00:00Z"}, "observed_at"),
        ({"posted_at": "2999-01-01T00:00:00Z"}, "posted_at"),
    ],
)
async def test_bad_input_is_422_naming_the_field(
    client: httpx.AsyncClient, auth: dict[str, str], session: AsyncSession,
    patch: dict[str, Any], field: str,
) -> None:  # fmt: skip
    analysis_id = await analyze(client, auth)
    body = {"analysis_id": analysis_id, "views": 100} | patch
    response = await client.post("/api/outcomes", json=body, headers=auth)
    assert response.status_code == 422, response.text
    assert field in response.text
    assert await session.scalar(select(func.count()).select_from(Outcome)) == 0


async def test_posted_url_schedules_two_follow_ups_once(
    client: httpx.AsyncClient, auth: dict[str, str], session: AsyncSession
) -> None:
    analysis_id = await analyze(client, auth)
    await backdate(session, analysis_id, days=0.01)  # analysed about 15 minutes ago
    posted = datetime.now(UTC) - timedelta(minutes=5)
    for minutes in (0, 1):  # two reports with the URL: still one follow-up per checkpoint
        observed = posted + timedelta(minutes=minutes + 1)
        response = await client.post(
            "/api/outcomes",
            json={
                "analysis_id": analysis_id,
                "posted_url": URL,
                "posted_at": posted.isoformat(),
                "observed_at": observed.isoformat(),
            },  # fmt: skip
            headers=auth,
        )
        assert response.status_code == 201, response.text
    view = (await client.get(f"/api/analysis/{analysis_id}/outcomes", headers=auth)).json()
    assert [(f["checkpoint"], f["status"]) for f in view["follow_ups"]] == [
        ("48h", "pending"), ("7d", "pending"),
    ]  # fmt: skip
    due = datetime.fromisoformat(view["follow_ups"][0]["due_at"])
    assert abs((due - posted) - timedelta(hours=48)) < timedelta(seconds=1)
    assert view["comparison"] is None  # no views reported yet
    total = await session.scalar(select(func.count()).select_from(OutcomeFollowUp))
    assert total == 2


async def test_analysis_outcomes_compare_at_the_horizon(
    client: httpx.AsyncClient, auth: dict[str, str], session: AsyncSession
) -> None:
    analysis_id = await analyze(client, auth)
    posted = await backdate(session, analysis_id, days=9)
    for days, views in ((2, 30_000), (8, 600_000)):
        response = await client.post(
            "/api/outcomes",
            json={
                "analysis_id": analysis_id,
                "views": views,
                "observed_at": (posted + timedelta(days=days)).isoformat(),
            },  # fmt: skip
            headers=auth,
        )
        assert response.status_code == 201, response.text
    view = (await client.get(f"/api/analysis/{analysis_id}/outcomes", headers=auth)).json()
    assert [o["observed_tier"] for o in view["outcomes"]] == [1, 3]
    comparison = view["comparison"]
    assert comparison["horizon_reached"] is True
    assert comparison["views"] == 600_000  # the 8-day snapshot, not the 2-day one
    assert comparison["observed_tier"] == 3
    probs = view["tier_probabilities"]
    assert comparison["probability_of_observed_tier"] == pytest.approx(probs[2])
    assert comparison["tier_error"] == 3 - comparison["predicted_tier"]

    # GET /api/analysis/{id} itself shows the stored result with the same outcomes.
    detail = (await client.get(f"/api/analysis/{analysis_id}", headers=auth)).json()
    assert detail["id"] == analysis_id
    assert detail["tier_probabilities"] == probs
    assert {"overall_score", "tier", "confidence", "is_calibrated", "factors"} <= set(detail)
    assert detail["outcomes"] == view["outcomes"]
    assert detail["comparison"] == comparison
    assert detail["follow_ups"] == []
    other = await users.create_user(session, email=f"x{uuid.uuid4().hex[:6]}@example.com")
    hidden = await client.get(
        f"/api/analysis/{analysis_id}", headers={"Authorization": f"Bearer {other.api_key}"}
    )
    assert hidden.status_code == 404


async def test_pending_lists_unreported_posts_after_48_hours(
    client: httpx.AsyncClient, auth: dict[str, str], session: AsyncSession
) -> None:
    overdue = await analyze(client, auth)
    await backdate(session, overdue, days=3)
    recent = await analyze(client, auth)
    await backdate(session, recent, days=1)
    reported = await analyze(client, auth)
    posted = await backdate(session, reported, days=4)
    await client.post(
        "/api/outcomes",
        json={
            "analysis_id": reported,
            "views": 5,
            "observed_at": (posted + timedelta(days=3)).isoformat(),
        },  # fmt: skip
        headers=auth,
    )
    page = (await client.get("/api/outcomes/pending", headers=auth)).json()
    assert page["prompt_after_hours"] == 48
    assert [item["analysis_id"] for item in page["items"]] == [overdue]
    assert page["items"][0]["hours_since_planned"] == pytest.approx(72, abs=0.2)


async def test_accuracy_uses_outcomes_at_the_horizon(
    client: httpx.AsyncClient, auth: dict[str, str], session: AsyncSession
) -> None:
    empty = (await client.get("/api/profile/accuracy", headers=auth)).json()
    assert empty["count"] == 0
    assert empty["spearman"] is None
    for index, views in enumerate((1_000, 80_000, 2_000_000, 700)):
        analysis_id = await analyze(client, auth, creator_followers=10 ** (index + 3))
        posted = await backdate(session, analysis_id, days=10)
        await client.post(
            "/api/outcomes",
            json={
                "analysis_id": analysis_id,
                "views": views,
                "observed_at": (posted + timedelta(days=8)).isoformat(),
            },  # fmt: skip
            headers=auth,
        )
    young = await analyze(client, auth)
    posted = await backdate(session, young, days=3)
    await client.post(
        "/api/outcomes",
        json={
            "analysis_id": young,
            "views": 9,
            "observed_at": (posted + timedelta(days=2)).isoformat(),
        },  # fmt: skip
        headers=auth,
    )
    body = (await client.get("/api/profile/accuracy", headers=auth)).json()
    assert body["count"] == 4
    assert body["awaiting_horizon"] == 1
    assert body["horizon_days"] == 7
    assert -1 <= body["spearman"] <= 1
    assert 0 <= body["mean_abs_tier_error"] <= 4
    assert body["within_one_tier_rate"] >= body["exact_tier_rate"]


async def test_calibration_report_is_admin_only(
    client: httpx.AsyncClient, auth: dict[str, str], session: AsyncSession
) -> None:
    denied = await client.get("/api/admin/calibration-report", headers=auth)
    assert denied.status_code == 403
    admin = await users.create_user(session, email="cal-admin@example.com", is_admin=True)
    response = await client.get(
        "/api/admin/calibration-report", headers={"Authorization": f"Bearer {admin.api_key}"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["horizon_days"] == 7
    assert body["tier_cutoffs_views"][0] == pytest.approx(52_300, rel=0.01)
    assert body["pooled"]["n"] == body["joined_rows"]
