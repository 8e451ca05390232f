"""W4: with the database unavailable the Apify webhook answers 5xx (so Apify delivers again);
after recovery the redelivered event is stored once and queued once. W5 extras: the secret is
compared in constant time (the 401s and the untrusted payload are in test_apify.py)."""

from __future__ import annotations

import hmac
import sqlite3
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import delete, func, select

from virtuna.api.app import create_app
from virtuna.config import Settings
from virtuna.jobs.memory import RecordingQueue
from virtuna.kit.db import create_engine, create_session_factory, unit_of_work
from virtuna.models import ExternalEvent
from virtuna.videos.apify import SECRET_HEADER

SECRET = "outage-secret"


@pytest.fixture
def settings(test_settings: Settings) -> Settings:
    return test_settings.model_copy(
        update={"apify_webhook_secret": SecretStr(SECRET), "sqlite_busy_timeout_ms": 200}
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        application.state.virtuna.extras["jobs"] = RecordingQueue()
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


@pytest.fixture
def outage(app: FastAPI, settings: Settings, database_url: str) -> Any:
    """A context that makes the database unavailable: an exclusive lock held on the SQLite
    file, or (PostgreSQL) the app's sessions pointed at a closed port."""

    class Outage:
        def __enter__(self) -> None:
            if database_url.startswith("sqlite"):
                self.lock = sqlite3.connect(database_url.split(":///", 1)[1], timeout=0.1)
                self.lock.execute("BEGIN EXCLUSIVE")
            else:
                self.sessions = app.state.virtuna.sessions
                down = settings.model_copy(
                    update={"database_url": "postgresql+psycopg://postgres@127.0.0.1:1/none"}
                )
                app.state.virtuna.sessions = create_session_factory(create_engine(down))

        def __exit__(self, *_: Any) -> None:
            if database_url.startswith("sqlite"):
                self.lock.rollback()
                self.lock.close()
            else:
                app.state.virtuna.sessions = self.sessions

    return Outage()


def _delivery(run_id: str) -> dict[str, Any]:
    return {
        "eventType": "ACTOR.RUN.SUCCEEDED",
        "eventData": {"actorId": "GdWCkxBtKWOsKjdch", "actorRunId": run_id},
        "resource": {"id": run_id, "status": "SUCCEEDED"},
    }


async def _stored(settings: Settings, run_id: str, *, remove: bool = False) -> int:
    engine = create_engine(settings)
    try:
        async with unit_of_work(create_session_factory(engine)) as session:
            where = ExternalEvent.external_id == f"ACTOR.RUN.SUCCEEDED:{run_id}"
            count = await session.scalar(
                select(func.count()).select_from(ExternalEvent).where(where)
            )
            if remove:
                await session.execute(delete(ExternalEvent).where(where))
    finally:
        await engine.dispose()
    return int(count or 0)


async def test_database_outage_answers_5xx_and_the_redelivery_is_stored_once(
    app: FastAPI, client: httpx.AsyncClient, outage: Any, settings: Settings
) -> None:
    run_id = f"RUNw4{uuid.uuid4().hex[:8]}"
    headers = {SECRET_HEADER: SECRET}
    try:
        with outage:
            down = await client.post("/api/webhooks/apify", json=_delivery(run_id), headers=headers)
        assert down.status_code == 503
        assert down.json()["error"]["code"] == "service_unavailable"
        assert await _stored(settings, run_id) == 0
        queue: RecordingQueue = app.state.virtuna.extras["jobs"]
        assert queue.deferred == []
        # Apify delivers again (and again): one stored event, one queued ingest.
        codes = [
            (
                await client.post("/api/webhooks/apify", json=_delivery(run_id), headers=headers)
            ).status_code
            for _ in range(2)
        ]
        assert codes == [202, 202]
        assert await _stored(settings, run_id) == 1
        assert [d.args["run_id"] for d in queue.deferred] == [run_id]
    finally:
        await _stored(settings, run_id, remove=True)


async def test_the_secret_is_compared_in_constant_time(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    wrong = await client.post(
        "/api/webhooks/apify", json=_delivery("RUNx"), headers={SECRET_HEADER: "guess"}
    )
    assert wrong.status_code == 401
    assert compared == [(b"guess", SECRET.encode())]
