"""refresh-competitors and the per-draft creator refresh, against the fake Apify server."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from tests.service.fake_apify import FakeApify
from tests.service.test_apify import _items
from virtuna.config import Settings
from virtuna.jobs import JobContext
from virtuna.jobs import service as job_service
from virtuna.jobs.memory import RecordingQueue
from virtuna.kit.db import READ_ONLY, create_engine, create_session_factory, unit_of_work
from virtuna.models import Analysis, ApifyRun, Creator
from virtuna.models.jobs import JobRun
from virtuna.users import service as users
from virtuna.videos import creators
from virtuna.videos.tasks import ingest_apify_run, refresh_competitors

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeApify]:
    server = FakeApify()
    yield server
    server.close()


@pytest.fixture
async def ctx(
    connection: AsyncConnection, test_settings: Settings, fake: FakeApify
) -> AsyncIterator[JobContext]:
    settings = test_settings.model_copy(
        update={
            "apify_token": SecretStr("apify_api_test"),
            "apify_base_url": fake.url,
            "apify_webhook_secret": SecretStr("s3cret"),
            "apify_profile_results": 5,
            "refresh_competitors_max_profiles": 3,
        }
    )
    sessions = async_sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    async with httpx.AsyncClient() as http:
        yield JobContext(
            settings=settings, sessions=sessions, http=http, jobs=RecordingQueue(), job_id="rc-1"
        )


async def _creator(session: AsyncSession, handle: str, seen: datetime) -> None:
    session.add(Creator(handle=handle, followers=10, followers_seen_at=seen, updated_at=seen))
    await session.flush()


async def _analysis(session: AsyncSession, user_id: uuid.UUID, handle: str, at: datetime) -> None:
    session.add(
        Analysis(
            user_id=user_id,
            input_mode="text",
            content_type="video",
            content_text="x",
            creator_handle=handle,
            overall_score=50.0,
            raw_score=50.0,
            tier=3,
            confidence=0.5,
            confidence_label="LOW",
            engine_version="t",
            latency_ms=1,
            result={},
            feature_vector={},
            created_at=at,
        )
    )
    await session.flush()


async def test_without_apify_token_the_job_is_skipped_with_a_reason(ctx: JobContext) -> None:
    ctx.settings = ctx.settings.model_copy(update={"apify_token": None})
    result = await refresh_competitors(ctx, handles=["someone"])
    assert result == {
        "status": "skipped",
        "reason": "APIFY_TOKEN is not set: profile scraping is off",
        "profiles": [],
    }


async def test_tracked_stale_creators_are_scraped_then_ingested_once(
    ctx: JobContext, fake: FakeApify, session: AsyncSession, tiktok_data_dir: Path
) -> None:
    user = await users.create_user(session, email=f"c{uuid.uuid4().hex[:6]}@example.com")
    items = _items(tiktok_data_dir, 40)
    handles = list(dict.fromkeys(i["authorMeta"]["name"].lower() for i in items))[:2]
    await _creator(session, handles[0], NOW - timedelta(days=30))  # stale
    await _creator(session, "freshone", datetime.now(UTC))  # fresh: not scraped
    for handle in [*handles, "@FreshOne"]:
        await _analysis(session, user.user.id, handle, datetime.now(UTC))
    before = len(fake.requests)
    result = await refresh_competitors(ctx)
    assert result is not None
    starts = [r for r in fake.requests[before:] if r.method == "POST"]
    assert len(starts) == 1
    assert sorted(starts[0].body["profiles"]) == sorted(handles)
    assert starts[0].body["resultsPerPage"] == 5
    assert starts[0].query["maxItems"] == ["10"]
    (hook,) = json.loads(base64.b64decode(starts[0].query["webhooks"][0]))
    assert hook["requestUrl"].endswith("/api/webhooks/apify")
    assert sorted(result["profiles"]) == sorted(handles)
    run = await session.scalar(select(ApifyRun).where(ApifyRun.run_id == result["run_id"]))
    assert run is not None
    assert run.job_id == "rc-1"
    # A retried job finds its run instead of starting (and paying for) another.
    retried = await refresh_competitors(ctx)
    assert retried is not None
    assert retried["run_id"] == result["run_id"]
    await _finish_and_ingest(ctx, fake, session, result["run_id"], items, handles)


async def _finish_and_ingest(
    ctx: JobContext,
    fake: FakeApify,
    session: AsyncSession,
    run_id: str,
    items: list[dict[str, Any]],
    handles: list[str],
) -> None:
    """The run finishes: its webhook's ingest brings the profiles up to date, once."""
    fake.runs[run_id].update(status="SUCCEEDED", finishedAt=_iso(NOW))
    fake.datasets[fake.runs[run_id]["defaultDatasetId"]] = [
        {**i, "scrapedAt": _iso(NOW)} for i in items if i["authorMeta"]["name"].lower() in handles
    ]
    first = await ingest_apify_run(ctx, run_id=run_id)
    again = await ingest_apify_run(ctx, run_id=run_id)
    assert first is not None
    assert first["new"] > 0
    assert again is not None
    assert again["skipped"] == "already ingested"
    seen = await session.scalars(
        select(Creator.followers_seen_at).where(Creator.handle.in_(handles))
    )
    assert list(seen) == [NOW, NOW]
    with_fresh_clock = await creators.refresh_profiles(
        ctx.sessions, ctx.settings, job_id="rc-2", now=NOW + timedelta(days=1)
    )
    assert with_fresh_clock == {"status": "nothing to refresh", "profiles": []}


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


async def _queued(session: AsyncSession, handle: str) -> int:
    lock = f"{creators.REFRESH_TASK}:{handle}"
    stmt = select(func.count()).select_from(JobRun).where(JobRun.queueing_lock == lock)
    return int(await session.scalar(stmt) or 0)


async def test_a_draft_naming_an_unknown_or_stale_creator_queues_one_refresh(
    session: AsyncSession,
) -> None:
    assert await creators.request_creator_refresh(session, "@NewCreator", NOW, stale_days=7)
    assert not await creators.request_creator_refresh(session, "newcreator", NOW, stale_days=7)
    assert await _queued(session, "newcreator") == 1
    run = await session.scalar(select(JobRun).where(JobRun.task_name == creators.REFRESH_TASK))
    assert run is not None
    assert (run.args, run.status) == ({"handles": ["newcreator"]}, "queued")
    await _creator(session, "known", NOW - timedelta(days=1))
    assert not await creators.request_creator_refresh(session, "known", NOW, stale_days=7)
    assert await creators.request_creator_refresh(session, "known", NOW, stale_days=0)
    assert not await creators.request_creator_refresh(session, None, NOW)
    assert not await creators.request_creator_refresh(session, "  ", NOW)


async def test_a_refresh_that_cannot_be_queued_never_fails_the_caller(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("queue down")

    monkeypatch.setattr(job_service, "create_run", broken)
    assert not await creators.request_creator_refresh(session, "someone", NOW, stale_days=7)
    # The caller's transaction is intact (the savepoint was rolled back, not the transaction).
    assert await session.scalar(select(func.count()).select_from(Creator)) is not None


async def test_in_a_read_only_phase_the_refresh_is_queued_in_the_background(
    test_settings: Settings,
) -> None:
    engine = create_engine(test_settings)
    sessions = create_session_factory(engine)
    handle = f"bg{uuid.uuid4().hex[:8]}"
    try:
        async with sessions() as session:
            await session.connection(execution_options=READ_ONLY)
            assert await creators.request_creator_refresh(session, handle, NOW, stale_days=7)
            await session.commit()
        await creators.wait_for_background()
        async with sessions() as session:
            assert await _queued(session, handle) == 1
    finally:
        async with unit_of_work(sessions) as session:
            await session.execute(
                delete(JobRun).where(JobRun.queueing_lock == f"{creators.REFRESH_TASK}:{handle}")
            )
        await engine.dispose()
