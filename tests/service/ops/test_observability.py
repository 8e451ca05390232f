"""/metrics, Sentry (captured through a local transport), and production hardening (S9)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sentry_sdk
from fastapi import FastAPI
from sentry_sdk.transport import Transport

from tests.service.ops.conftest import (
    CRON_SECRET,
    app_for,
    bearer,
    client_for,
    make_user,
    ops_settings_for,
)
from tests.service.ops.test_whop import signed
from virtuna.api.middleware import SECURITY_HEADERS
from virtuna.config import Settings
from virtuna.kit.observability import init_sentry
from virtuna.logging import configure_logging
from virtuna.users.auth import CurrentUser


def _sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one Prometheus sample, matched on a subset of its labels."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        labels_part = line[len(name) + 1 : line.rindex("} ")]
        found = dict(re.findall(r'(\w+)="([^"]*)"', labels_part))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_metrics_count_requests_by_route_template(ops_client: httpx.AsyncClient) -> None:
    before = (await ops_client.get("/metrics")).text
    base = _sample(before, "virtuna_http_requests_total", route="/api/jobs/{run_id}", status="401")
    for _ in range(3):
        await ops_client.get(f"/api/jobs/{'a' * 32}")  # anonymous -> 401
    await ops_client.get("/no/such/route")
    response = await ops_client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    after = _sample(text, "virtuna_http_requests_total", route="/api/jobs/{run_id}", status="401")
    assert after == (base or 0) + 3
    assert "a" * 32 not in text  # raw ids never become labels
    assert _sample(text, "virtuna_http_requests_total", route="unmatched", status="404")
    assert _sample(text, "virtuna_job_runs_in_database", status="queued") == 0
    assert "virtuna_http_request_duration_seconds_bucket" in text


async def test_metrics_token_when_configured(fresh_url: str, tmp_path: Path) -> None:
    settings = ops_settings_for(fresh_url, tmp_path, VIRTUNA_METRICS_TOKEN="m-token-123")
    async with client_for(settings) as client:
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers=bearer("nope"))).status_code == 401
        assert (await client.get("/metrics", headers=bearer("m-token-123"))).status_code == 200


async def test_job_metrics_follow_runs(ops_client: httpx.AsyncClient, ops_system: Any) -> None:
    started = await ops_client.post("/api/cron/process-whop-event", headers=bearer(CRON_SECRET))
    assert started.status_code == 202
    queued = _sample(
        (await ops_client.get("/metrics")).text, "virtuna_job_runs_in_database", status="queued"
    )
    assert queued == 1
    before = _sample(
        (await ops_client.get("/metrics")).text,
        "virtuna_job_runs_total",
        job="process-whop-event",
        status="succeeded",
    )
    await ops_system.worker().run_until_idle()
    text = (await ops_client.get("/metrics")).text
    after = _sample(text, "virtuna_job_runs_total", job="process-whop-event", status="succeeded")
    assert after == (before or 0) + 1
    assert _sample(text, "virtuna_job_runs_in_database", status="succeeded") == 1


class CaptureTransport(Transport):
    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.envelopes: list[Any] = []

    def capture_envelope(self, envelope: Any) -> None:
        self.envelopes.append(envelope)

    def events(self) -> list[dict[str, Any]]:
        return [
            item.payload.json
            for env in self.envelopes
            for item in env.items
            if item.type == "event"
        ]


@pytest.fixture
def capture() -> Iterator[CaptureTransport]:
    transport = CaptureTransport()
    yield transport
    sentry_sdk.get_global_scope().set_client(None)  # no client (no integrations) afterwards


async def _boom() -> None:
    raise RuntimeError("kaput in a handler")


async def test_sentry_captures_crashes_with_request_id_and_no_secrets(
    ops_settings: Settings, capture: CaptureTransport
) -> None:
    assert init_sentry(ops_settings, component="api", transport=capture)
    async with app_for(ops_settings) as app:
        _add_crash_route(app)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post(
                "/boom",
                json={"content_text": "my secret draft"},
                headers={"X-Request-ID": "req-abc-123", "Authorization": "Bearer vt_secretkey"},
            )
    assert response.status_code == 500
    assert response.json()["error"] == {
        "code": "internal_error",
        "message": "internal server error",
        "details": None,
    }
    assert "Traceback" not in response.text
    assert "kaput" not in response.text
    sentry_sdk.flush()
    events = capture.events()
    assert events, "the crash reached no transport"
    event = events[-1]
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert event["tags"]["request_id"] == "req-abc-123"
    dumped = repr(event)
    assert "vt_secretkey" not in dumped
    assert "my secret draft" not in dumped


async def test_sentry_never_reads_request_bodies(
    ops_settings: Settings, capture: CaptureTransport
) -> None:
    """A form body (the dashboard login posts an admin key) is not parsed into the event."""
    assert init_sentry(ops_settings, component="api", transport=capture)
    async with app_for(ops_settings) as app:
        _add_crash_route(app)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post(
                "/boom", data={"key": "vt_formsecret"}, files={"video": ("a.mp4", b"x" * 64)}
            )
    assert response.status_code == 500
    sentry_sdk.flush()
    events = [e for e in capture.events() if "request" in e]
    assert events, "the crash reached no transport"
    assert "vt_formsecret" not in repr(capture.events())
    for event in events:
        assert "data" not in event["request"]
        assert event["_meta"]["request"]["data"][""]["rem"][0][0] == "!config"  # by config


def _add_crash_route(app: FastAPI) -> None:
    app.add_api_route("/boom", _boom, methods=["POST"])


def test_sentry_is_off_without_a_dsn(ops_settings: Settings) -> None:
    assert init_sentry(ops_settings, component="api") is False


def _production(fresh_url: str, tmp_path: Path, **extra: object) -> Settings:
    return ops_settings_for(
        fresh_url,
        tmp_path,
        VIRTUNA_ENV="production",
        VIRTUNA_CORS_ORIGINS="https://app.virtuna.example",
        **extra,
    )


async def test_production_hides_docs_and_rejects_unknown_origins(
    fresh_url: str, tmp_path: Path
) -> None:
    """S9: no public /docs or /openapi.json, CORS only for configured origins, headers set."""
    async with client_for(_production(fresh_url, tmp_path)) as client:
        for path in ("/docs", "/openapi.json", "/redoc"):
            assert (await client.get(path)).status_code == 404, path
        evil = await client.options(
            "/api/analyze",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert evil.status_code >= 400
        assert "access-control-allow-origin" not in evil.headers
        simple = await client.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in simple.headers
        good = await client.options(
            "/api/analyze",
            headers={
                "Origin": "https://app.virtuna.example",
                "Access-Control-Request-Method": "POST",
            },
        )
        assert good.status_code == 200
        assert good.headers["access-control-allow-origin"] == "https://app.virtuna.example"
        health = await client.get("/healthz")
        for name, value in SECURITY_HEADERS:
            assert health.headers[name.decode()] == value.decode()


async def test_production_500_has_no_traceback(fresh_url: str, tmp_path: Path) -> None:
    async with app_for(_production(fresh_url, tmp_path)) as app:
        _add_crash_route(app)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post("/boom")
    assert response.status_code == 500
    assert "Traceback" not in response.text
    assert "kaput" not in response.text
    assert 'File "' not in response.text


DRAFT = {"input_mode": "text", "content_text": "POV: the 3-ingredient pasta, wait for it #cooking"}
STAGES = {"normalize", "rules", "trends", "creator", "ml", "content", "reasoner"}


def _json_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]


async def test_analysis_logs_each_stage_once_with_request_and_user_ids(
    ops_settings: Settings,
) -> None:
    """OBS-04: one ``engine.stage.completed`` per stage and one ``engine.analysis.completed``,
    all with the request id; the user id is bound after authentication and only then."""
    user_id, key = await make_user(ops_settings)
    buffer = io.StringIO()
    configure_logging(ops_settings, stream=buffer)
    try:
        async with client_for(ops_settings) as client:
            before = (await client.get("/metrics")).text
            headers = {**bearer(key), "X-Request-ID": "req-obs-0001"}
            response = await client.post("/api/analyze", json=DRAFT, headers=headers)
            assert response.status_code == 200, response.text
            await client.get("/healthz", headers={"X-Request-ID": "req-obs-anon"})
            after = (await client.get("/metrics")).text
    finally:
        configure_logging(Settings(_env_file=None))
    lines = _json_lines(buffer)
    mine = [line for line in lines if line.get("request_id") == "req-obs-0001"]
    stages = [line for line in mine if line["event"] == "engine.stage.completed"]
    assert sorted(line["stage"] for line in stages) == sorted(STAGES)
    for line in stages:
        assert isinstance(line["duration_ms"], int | float)
        assert isinstance(line["cost_cents"], int | float)
        assert line["user_id"] == str(user_id)
    summary = [line for line in mine if line["event"] == "engine.analysis.completed"]
    assert len(summary) == 1
    assert all("user_id" not in line for line in lines if line.get("request_id") == "req-obs-anon")
    label = response.json()["confidence_label"]
    analyses = "virtuna_analyses_total"
    assert (_sample(after, analyses, mode="text", confidence=label) or 0) == (
        _sample(before, analyses, mode="text", confidence=label) or 0
    ) + 1
    stage_count = "virtuna_engine_stage_duration_seconds_count"
    assert (_sample(after, stage_count, stage="rules") or 0) == (
        _sample(before, stage_count, stage="rules") or 0
    ) + 1


async def _whoami(user: CurrentUser) -> None:
    raise RuntimeError(f"kaput for {user.email}")


async def test_sentry_event_carries_the_user_id_not_the_email(
    ops_settings: Settings, capture: CaptureTransport
) -> None:
    user_id, key = await make_user(ops_settings)
    assert init_sentry(ops_settings, component="api", transport=capture)
    async with app_for(ops_settings) as app:
        app.add_api_route("/boom-user", _whoami, methods=["GET"])
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/boom-user", headers=bearer(key))).status_code == 500
    sentry_sdk.flush()
    event = capture.events()[-1]
    assert event["user"] == {"id": str(user_id)}
    assert "@example.com" not in repr(event.get("user"))


async def test_webhook_deliveries_counted_by_source_and_outcome(
    fresh_url: str, tmp_path: Path
) -> None:
    settings = ops_settings_for(fresh_url, tmp_path, APIFY_WEBHOOK_SECRET="apify-s3cret-value")
    whop_body = json.dumps({"type": "membership.activated", "data": {"id": "mem_obs"}}).encode()
    apify_body = {"eventType": "ACTOR.RUN.SUCCEEDED", "eventData": {"actorRunId": "runObs1"}}
    name = "virtuna_webhook_deliveries_total"
    async with client_for(settings) as client:
        before = (await client.get("/metrics")).text
        whop_headers = signed(whop_body)
        for _ in range(2):  # the second is a redelivery of the same webhook-id
            ok = await client.post("/api/webhooks/whop", content=whop_body, headers=whop_headers)
            assert ok.status_code == 202, ok.text
        tampered = await client.post(
            "/api/webhooks/whop", content=whop_body + b" ", headers=signed(whop_body)
        )
        assert tampered.status_code == 401
        good = {"X-Virtuna-Webhook-Secret": "apify-s3cret-value"}
        for _ in range(2):
            ok = await client.post("/api/webhooks/apify", json=apify_body, headers=good)
            assert ok.status_code == 202, ok.text
        bad = {"X-Virtuna-Webhook-Secret": "wrong"}
        assert (
            await client.post("/api/webhooks/apify", json=apify_body, headers=bad)
        ).status_code == 401
        after = (await client.get("/metrics")).text
    for source in ("whop", "apify"):
        for outcome in ("new", "duplicate", "rejected"):
            was = _sample(before, name, source=source, outcome=outcome) or 0
            now = _sample(after, name, source=source, outcome=outcome) or 0
            assert now == was + 1, (source, outcome)
