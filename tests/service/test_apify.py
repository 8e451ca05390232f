"""Apify: start a run with its webhook, receive deliveries (W1, W5), ingest every page once.

Apify is a local fake speaking its HTTP API, driven through the real apify-client.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from collections.abc import AsyncIterator, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from tests.service.fake_apify import FakeApify
from virtuna.api.app import create_app
from virtuna.config import Settings
from virtuna.jobs import JobContext
from virtuna.jobs.memory import RecordingQueue
from virtuna.kit.db import create_engine, create_session_factory, unit_of_work
from virtuna.models import ApifyRun, ExternalEvent, Video
from virtuna.videos import scraping
from virtuna.videos.apify import SECRET_HEADER
from virtuna.videos.tasks import INGEST_TASK, ingest_apify_run, scrape_trending
from virtuna.webhooks.store import store_event

SECRET = "wh-secret-4f1c"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeApify]:
    server = FakeApify()
    yield server
    server.close()


@pytest.fixture
def settings(test_settings: Settings, fake: FakeApify) -> Settings:
    return test_settings.model_copy(
        update={
            "apify_token": SecretStr("apify_api_test"),
            "apify_base_url": fake.url,
            "apify_webhook_secret": SecretStr(SECRET),
            "public_url": "https://virtuna.example",
            "scraper_hashtags": ["skincare", "dance"],
        }
    )


@pytest.fixture
async def ctx(connection: AsyncConnection, settings: Settings) -> AsyncIterator[JobContext]:
    # The job's own sessions, on the test's connection: its commits become savepoints.
    sessions = async_sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    async with httpx.AsyncClient() as http:
        yield JobContext(
            settings=settings, sessions=sessions, http=http, jobs=RecordingQueue(), job_id="j-1"
        )


def _items(data_dir: Path, n: int) -> list[dict[str, Any]]:
    path = data_dir / "datares-creators-2020" / "videos.jsonl.gz"
    with gzip.open(path, "rt") as handle:
        return [json.loads(line) for line in islice(handle, n)]


def _delivery(run_id: str, event: str = "ACTOR.RUN.SUCCEEDED", **resource: Any) -> dict[str, Any]:
    return {
        "userId": "7sT5jcggjjA9fNcxF",
        "createdAt": "2026-11-20T10:16:40.118Z",
        "eventType": event,
        "eventData": {"actorId": "GdWCkxBtKWOsKjdch", "actorRunId": run_id},
        "resource": {"id": run_id, "status": "SUCCEEDED", **resource},
    }


async def test_scrape_trending_starts_the_actor_with_a_secret_header_webhook(
    ctx: JobContext, fake: FakeApify
) -> None:
    before = len(fake.requests)
    result = await scrape_trending(ctx)
    assert result is not None
    starts = [r for r in fake.requests[before:] if r.method == "POST"]
    assert len(starts) == 1
    start = starts[0]
    assert start.path == "/v2/actors/clockworks~tiktok-scraper/runs"
    assert start.headers["authorization"] == "Bearer apify_api_test"
    assert start.body == {
        "hashtags": ["skincare", "dance"],
        "resultsPerPage": 100,
        "proxyCountryCode": "None",
    }
    assert start.query["maxItems"] == ["2000"]
    assert start.query["memory"] == ["1024"]
    assert start.query["timeout"] == ["3600"]
    (hook,) = json.loads(base64.b64decode(start.query["webhooks"][0]))
    assert hook["requestUrl"] == "https://virtuna.example/api/webhooks/apify"
    assert json.loads(hook["headersTemplate"]) == {SECRET_HEADER: SECRET}
    assert SECRET not in hook["requestUrl"]
    assert "ACTOR.RUN.TIMED_OUT" in hook["eventTypes"]
    async with unit_of_work(ctx.sessions) as session:
        row = await session.scalar(select(ApifyRun).where(ApifyRun.run_id == result["run_id"]))
    assert row is not None
    assert row.status == "READY"
    assert row.job_id == "j-1"
    # A retried job finds its run instead of paying for a second one.
    again = await scrape_trending(ctx)
    assert again is not None
    assert again["run_id"] == result["run_id"]
    assert len([r for r in fake.requests[before:] if r.method == "POST"]) == 1


async def test_no_webhook_secret_no_scrape(ctx: JobContext) -> None:
    ctx.settings = ctx.settings.model_copy(update={"apify_webhook_secret": None})
    with pytest.raises(Exception, match="APIFY_WEBHOOK_SECRET"):
        await scrape_trending(ctx)


@pytest.fixture
async def queue(app: Any) -> RecordingQueue:
    recording = RecordingQueue()
    app.state.virtuna.extras["jobs"] = recording
    return recording


@pytest.fixture
def secret_app(app: Any, settings: Settings) -> Any:
    app.state.virtuna.settings = settings
    return app


async def test_webhook_refuses_without_the_right_secret(
    secret_app: Any, client: httpx.AsyncClient, queue: RecordingQueue
) -> None:
    body = _delivery("RUNabc")
    wrong = await client.post("/api/webhooks/apify", json=body, headers={SECRET_HEADER: "nope"})
    missing = await client.post("/api/webhooks/apify", json=body)
    assert (wrong.status_code, missing.status_code) == (401, 401)
    secret_app.state.virtuna.settings = secret_app.state.virtuna.settings.model_copy(
        update={"apify_webhook_secret": None}
    )
    unset = await client.post("/api/webhooks/apify", json=body, headers={SECRET_HEADER: ""})
    assert unset.status_code == 401
    assert queue.deferred == []


async def test_webhook_validates_the_payload(
    secret_app: Any, client: httpx.AsyncClient, queue: RecordingQueue
) -> None:
    headers = {SECRET_HEADER: SECRET}
    bad = await client.post("/api/webhooks/apify", json={"eventType": "x"}, headers=headers)
    assert bad.status_code == 422
    fields = {d["field"] for d in bad.json()["error"]["details"]}
    assert {"eventType", "eventData"} <= fields
    notjson = await client.post("/api/webhooks/apify", content=b"{", headers=headers)
    assert notjson.status_code == 400
    assert queue.deferred == []


async def test_eleven_sequential_deliveries_store_one_event_and_queue_one_job(
    secret_app: Any, client: httpx.AsyncClient, queue: RecordingQueue, session: AsyncSession
) -> None:
    body = _delivery("RUNseq1")
    headers = {SECRET_HEADER: SECRET, "X-Apify-Webhook-Dispatch-Id": "d1"}
    codes = [
        (await client.post("/api/webhooks/apify", json=body, headers=headers)).status_code
        for _ in range(11)
    ]
    assert codes == [202] * 11
    count = await session.scalar(
        select(func.count()).select_from(ExternalEvent).where(ExternalEvent.source == "apify")
    )
    assert count == 1
    assert [(d.task_name, d.args["run_id"]) for d in queue.deferred] == [(INGEST_TASK, "RUNseq1")]


async def test_eleven_concurrent_deliveries_store_one_event_and_queue_one_job(
    settings: Settings,
) -> None:
    """W1 with real concurrency: separate requests, sessions and transactions."""
    application = create_app(settings)
    run_id = "RUNconc1"
    async with application.router.lifespan_context(application):
        recording = RecordingQueue()
        application.state.virtuna.extras["jobs"] = recording
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/api/webhooks/apify",
                        json=_delivery(run_id),
                        headers={SECRET_HEADER: SECRET},
                    )
                    for _ in range(11)
                )
            )
    engine = create_engine(settings)
    try:
        async with unit_of_work(create_session_factory(engine)) as session:
            stored = await session.scalar(
                select(func.count())
                .select_from(ExternalEvent)
                .where(ExternalEvent.external_id == f"ACTOR.RUN.SUCCEEDED:{run_id}")
            )
            await session.execute(
                delete(ExternalEvent).where(ExternalEvent.external_id.contains(run_id))
            )
    finally:
        await engine.dispose()
    assert [r.status_code for r in responses] == [202] * 11
    assert stored == 1
    assert len(recording.deferred) == 1


async def test_ingest_job_rereads_the_run_and_ingests_every_page_once(
    ctx: JobContext, fake: FakeApify, tiktok_data_dir: Path, session: AsyncSession
) -> None:
    items = _items(tiktok_data_dir, 2500)  # 3 pages of 1,000: no 1,000-row cap
    run_id = fake.add_run("SUCCEEDED", [*items, {"id": "bad"}])
    result = await ingest_apify_run(ctx, run_id=run_id)
    assert result is not None
    assert result["status"] == "SUCCEEDED"
    assert (result["items"], result["new"], result["rejected"]) == (2501, 2500, 1)
    assert await session.scalar(select(func.count()).select_from(Video)) == 2500
    row = await session.scalar(select(ApifyRun).where(ApifyRun.run_id == run_id))
    assert row is not None
    assert row.ingested_at is not None
    assert row.items_seen == 2501
    again = await ingest_apify_run(ctx, run_id=run_id)  # at-least-once delivery of the job
    assert again is not None
    assert again["skipped"] == "already ingested"


async def test_failed_runs_are_recorded_with_their_status(
    ctx: JobContext, fake: FakeApify, tiktok_data_dir: Path, session: AsyncSession
) -> None:
    run_id = fake.add_run("TIMED-OUT", _items(tiktok_data_dir, 10))  # partial results kept
    result = await ingest_apify_run(ctx, run_id=run_id)
    assert result is not None
    row = await session.scalar(select(ApifyRun).where(ApifyRun.run_id == run_id))
    assert result["status"] == "TIMED-OUT"
    assert result["new"] == 10
    assert row is not None
    assert row.status == "TIMED-OUT"
    assert row.error == "run is TIMED-OUT"


async def test_the_payload_is_not_trusted(
    ctx: JobContext, fake: FakeApify, session: AsyncSession
) -> None:
    """A forged delivery naming a run Apify does not know ingests nothing; one naming a
    running run waits (the job is retried) whatever status the payload claims."""
    event_id, _ = await store_event(
        session,
        source="apify",
        external_id="ACTOR.RUN.SUCCEEDED:forged",
        event_type="x",
        payload={},
    )
    result = await ingest_apify_run(ctx, run_id="forged", event_id=str(event_id))
    assert result is not None
    assert result["skipped"] == "run not found"
    event = await session.get(ExternalEvent, event_id)
    assert event is not None
    assert event.handled_at is not None
    assert event.error
    running = fake.add_run("RUNNING", [])
    with pytest.raises(scraping.RunNotFinished):
        await ingest_apify_run(ctx, run_id=running)
