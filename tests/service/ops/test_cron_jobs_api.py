"""`/api/cron/{job}` (cron secret, 409 on a second start) and `/api/jobs` (admin only, S3)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.service.ops.conftest import (
    CRON_SECRET,
    bearer,
    client_for,
    make_user,
    ops_settings_for,
)
from virtuna.config import Settings
from virtuna.worker.runtime import JobSystem

JOB = "process-whop-event"  # always registered (billing); needs no arguments to be queued


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-secret"},
        {"Authorization": f"Basic {CRON_SECRET}"},
        {"Authorization": f"Bearer {CRON_SECRET}x"},
        {"Authorization": "Bearer "},
    ],
    ids=["missing", "wrong", "wrong-scheme", "longer", "empty"],
)
async def test_cron_refuses_bad_secrets(
    ops_client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for method in ("POST", "GET"):
        response = await ops_client.request(method, f"/api/cron/{JOB}", headers=headers)
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "unauthorized"


async def test_cron_with_unset_secret_refuses_everything(fresh_url: str, tmp_path: Path) -> None:
    settings = ops_settings_for(fresh_url, tmp_path, CRON_SECRET=None)
    async with client_for(settings) as client:
        for auth in ({}, bearer(""), bearer("anything"), bearer("None")):
            response = await client.post(f"/api/cron/{JOB}", headers=auth)
            assert response.status_code == 401
            assert "CRON_SECRET is not set" in response.json()["error"]["message"]


async def test_cron_starts_once_then_409_until_the_run_ends(
    ops_client: httpx.AsyncClient, ops_system: JobSystem
) -> None:
    first = await ops_client.post(f"/api/cron/{JOB}", headers=bearer(CRON_SECRET))
    assert first.status_code == 202, first.text
    run = first.json()
    assert (run["job"], run["trigger"], run["status"]) == (JOB, "api", "queued")

    second = await ops_client.get(f"/api/cron/{JOB}", headers=bearer(CRON_SECRET))
    assert second.status_code == 409
    assert second.json()["error"]["details"]["run_id"] == run["id"]

    await ops_system.worker().run_until_idle()  # the run fails (no event id) and ends
    third = await ops_client.get(f"/api/cron/{JOB}", headers=bearer(CRON_SECRET))
    assert third.status_code == 202
    assert third.json()["id"] != run["id"]


async def test_cron_unknown_job_is_404(ops_client: httpx.AsyncClient) -> None:
    response = await ops_client.post("/api/cron/no-such-job", headers=bearer(CRON_SECRET))
    assert response.status_code == 404
    assert "no-such-job" in response.json()["error"]["message"]


async def test_jobs_api_lists_and_shows_runs(
    ops_client: httpx.AsyncClient, ops_settings: Settings, ops_system: JobSystem
) -> None:
    _, admin_key = await make_user(ops_settings, admin=True)
    run_id = await ops_system.queue.defer("process-whop-event", args={"event_id": "bogus"})
    assert run_id is not None
    await ops_system.worker().run_until_idle()

    listing = await ops_client.get("/api/jobs", headers=bearer(admin_key))
    assert listing.status_code == 200
    body = listing.json()
    schedules = {j["name"]: j["schedule"] for j in body["jobs"]}
    assert schedules["sync-whop"] == ops_settings.schedule_sync_whop
    assert schedules["process-whop-event"] is None
    assert [r["id"] for r in body["runs"]] == [run_id]

    detail = await ops_client.get(f"/api/jobs/{run_id}", headers=bearer(admin_key))
    assert detail.status_code == 200
    run = detail.json()
    assert run["status"] == "failed"  # a permanent failure: not an event id
    assert "not an event id" in run["error"]
    assert run["attempt"] == 1

    filtered = await ops_client.get("/api/jobs?status=succeeded", headers=bearer(admin_key))
    assert filtered.json()["runs"] == []
    missing = await ops_client.get(f"/api/jobs/{'0' * 32}", headers=bearer(admin_key))
    assert missing.status_code == 404
    malformed = await ops_client.get("/api/jobs/not-a-run-id", headers=bearer(admin_key))
    assert malformed.status_code == 422


def _admin_operations(openapi: dict[str, object]) -> list[tuple[str, str]]:
    """Every operation documented as admin-only (its 403 response), from the route table."""
    paths = openapi["paths"]
    assert isinstance(paths, dict)
    found = []
    for path, operations in paths.items():
        for method, operation in operations.items():
            if "403" in operation.get("responses", {}):
                found.append((method.upper(), path))
    return sorted(found)


async def test_every_admin_route_refuses_anonymous_and_normal_users(
    ops_client: httpx.AsyncClient, ops_settings: Settings
) -> None:
    """S3: 401 anonymous, 403 normal user, admin gets past the gate — for every admin route."""
    openapi = (await ops_client.get("/openapi.json")).json()
    operations = _admin_operations(openapi)
    assert ("GET", "/api/jobs") in operations
    assert ("GET", "/api/jobs/{run_id}") in operations
    assert ("GET", "/admin") in operations  # the dashboard
    _, user_key = await make_user(ops_settings)
    _, admin_key = await make_user(ops_settings, admin=True)
    for method, template in operations:
        path = re.sub(r"\{[^}]+\}", "0" * 32, template)
        anonymous = await ops_client.request(method, path)
        assert anonymous.status_code == 401, (method, path, anonymous.text)
        user = await ops_client.request(method, path, headers=bearer(user_key))
        assert user.status_code == 403, (method, path, user.text)
        admin = await ops_client.request(method, path, headers=bearer(admin_key))
        assert admin.status_code not in (401, 403), (method, path, admin.text)
