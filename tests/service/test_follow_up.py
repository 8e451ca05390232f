"""OUT-01 follow-up scrapes: the production Apify fetcher (one actor run per batch, through
the real apify-client against a local fake of the Apify API), and crash recovery — a row
claimed by a worker that died is claimed again after the stale threshold and completed
once, and a slow worker whose claim was taken over stores nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from tests.service.fake_apify import FakeApify
from tests.service.test_outcomes_api import DRAFT, backdate
from virtuna.config import Settings
from virtuna.jobs import JobContext
from virtuna.jobs.memory import RecordingQueue
from virtuna.models import Outcome, OutcomeFollowUp
from virtuna.outcomes import follow_up
from virtuna.outcomes.post_metrics import PostMetrics
from virtuna.outcomes.tasks import outcome_follow_up
from virtuna.predictions.calibration import clear_cache

STALE = timedelta(minutes=90)  # the setting's default, used by the job below


class WorkerKilled(BaseException):
    """The worker process dies mid-fetch (not an error the job could catch)."""


class Scraper:
    def __init__(self, views: int = 70_000) -> None:
        self.views = views
        self.calls: list[str] = []

    async def fetch_many(self, urls: Sequence[str]) -> Mapping[str, PostMetrics | None]:
        self.calls.extend(urls)
        return {url: PostMetrics(views=self.views) for url in urls}


class Dying:
    async def fetch_many(self, urls: Sequence[str]) -> Mapping[str, PostMetrics | None]:
        raise WorkerKilled


@pytest.fixture(autouse=True)
def _isolated() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()
    follow_up.use_fetcher_factory(None)


@pytest.fixture
def fake() -> Iterator[FakeApify]:
    server = FakeApify()
    yield server
    server.close()


@pytest.fixture
def sessions(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(bind=connection, expire_on_commit=False,
                              join_transaction_mode="create_savepoint")  # fmt: skip


async def _ctx(settings: Settings, sessions: async_sessionmaker[AsyncSession],
               http: httpx.AsyncClient) -> JobContext:  # fmt: skip
    return JobContext(settings=settings, sessions=sessions, http=http, jobs=RecordingQueue())


@pytest.fixture
async def job_ctx(
    test_settings: Settings, sessions: async_sessionmaker[AsyncSession], fake: FakeApify
) -> AsyncIterator[JobContext]:
    settings = test_settings.model_copy(
        update={"apify_token": SecretStr("apify_api_test"), "apify_base_url": fake.url}
    )
    async with httpx.AsyncClient() as http:
        yield await _ctx(settings, sessions, http)


def _url(index: int) -> str:
    return f"https://www.tiktok.com/@chef.sam/video/{7_300_000_000_000_000_100 + index}"


async def _posted(client: httpx.AsyncClient, auth: dict[str, str], session: AsyncSession,
                  url: str) -> datetime:  # fmt: skip
    """An analysis made and posted 3 days ago whose owner reported ``url`` (48 h is due)."""
    analysis_id = (await client.post("/api/analyze", json=DRAFT, headers=auth)).json()["id"]
    posted = await backdate(session, analysis_id, days=3)
    body = {"analysis_id": analysis_id, "posted_url": url,
            "observed_at": (posted + timedelta(hours=1)).isoformat()}  # fmt: skip
    response = await client.post("/api/outcomes", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return posted


def scraper_item(video_id: str, posted: datetime, views: int, **extra: Any) -> dict[str, Any]:
    """A clockworks/tiktok-scraper dataset item (INTEGRATIONS.md §1d field names)."""
    return {
        "id": video_id, "text": "Knife skills #cooking", "createTime": int(posted.timestamp()),
        "createTimeISO": posted.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "authorMeta": {"name": "chef.sam", "fans": 250_000, "verified": False},
        "webVideoUrl": f"https://www.tiktok.com/@chef.sam/video/{video_id}",
        "playCount": views, "diggCount": views // 10, "shareCount": views // 100,
        "commentCount": views // 200, "collectCount": views // 50, **extra,
    }  # fmt: skip


async def _rows(session: AsyncSession) -> list[tuple[str, str, int, str]]:
    """(checkpoint, status, attempts, error or "") of every follow-up, by URL then checkpoint."""
    session.expire_all()
    stmt = select(OutcomeFollowUp).order_by(OutcomeFollowUp.posted_url, OutcomeFollowUp.checkpoint)
    return [(r.checkpoint, r.status, r.attempts, r.error or "")
            for r in (await session.scalars(stmt)).all()]  # fmt: skip


async def _snapshots(session: AsyncSession) -> list[Outcome]:
    stmt = select(Outcome).where(Outcome.source == "scrape").order_by(Outcome.views)
    return list((await session.scalars(stmt)).all())


async def test_apify_fetcher_scrapes_every_due_url_in_one_actor_run(
    client: httpx.AsyncClient, auth: dict[str, str], session: AsyncSession,
    job_ctx: JobContext, fake: FakeApify,
) -> None:  # fmt: skip
    short = "https://vm.tiktok.com/ZMabc123/"
    posted = [await _posted(client, auth, session, url) for url in (_url(1), short, _url(3))]
    fake.posts[_url(1)] = scraper_item(_url(1).rsplit("/", 1)[1], posted[0], 400_000)  # id match
    fake.posts[short] = scraper_item(
        "7300000000000000555", posted[1], 90_000, submittedVideoUrl=short
    )
    # _url(3) was deleted: the actor returns nothing for it.

    result = await outcome_follow_up(job_ctx)
    assert result == {"status": "ok", "scraped": 2, "missing": 1}
    starts = [r for r in fake.requests if r.method == "POST"]
    assert len(starts) == 1  # one actor run for the whole batch
    assert starts[0].path == "/v2/actors/clockworks~tiktok-scraper/runs"
    assert starts[0].headers["authorization"] == "Bearer apify_api_test"
    assert sorted(starts[0].body["postURLs"]) == sorted([_url(1), short, _url(3)])
    assert starts[0].body["scrapeRelatedVideos"] is False
    assert starts[0].query["maxItems"] == ["3"]
    got = [(s.posted_url, s.views, s.likes, s.comments, s.shares, s.saves, s.posted_at)
           for s in await _snapshots(session)]  # fmt: skip
    assert got == [
        (short, 90_000, 9_000, 450, 900, 1_800, posted[1].replace(microsecond=0)),
        (_url(1), 400_000, 40_000, 2_000, 4_000, 8_000, posted[0].replace(microsecond=0)),
    ]
    assert sorted(await _rows(session)) == sorted(
        [("48h", "done", 1, "")] * 2 + [("48h", "done", 1, "post not found")]
        + [("7d", "pending", 0, "")] * 3
    )  # fmt: skip

    assert await outcome_follow_up(job_ctx) == {"status": "ok"}  # nothing due: no new run
    assert len([r for r in fake.requests if r.method == "POST"]) == 1


async def test_a_failed_actor_run_keeps_its_results_and_retries_the_rest(
    client: httpx.AsyncClient, auth: dict[str, str], session: AsyncSession,
    job_ctx: JobContext, fake: FakeApify,
) -> None:  # fmt: skip
    posted = [await _posted(client, auth, session, url) for url in (_url(4), _url(5))]
    fake.post_run_status = "TIMED-OUT"
    assert await outcome_follow_up(job_ctx) == {"status": "ok", "retry": 2}
    errors = [error for checkpoint, _, _, error in await _rows(session) if checkpoint == "48h"]
    assert len(errors) == 2
    assert all("ended TIMED-OUT with no results" in error for error in errors)

    fake.post_run_status = "FAILED"
    fake.posts[_url(4)] = scraper_item(_url(4).rsplit("/", 1)[1], posted[0], 60_000)
    later = datetime.now(UTC) + timedelta(hours=2)  # past the retry delay
    fetcher = follow_up.fetcher_for(job_ctx)
    assert fetcher is not None
    result = await follow_up.follow_up(job_ctx.sessions, fetcher=fetcher, now=later)
    assert result == {"status": "ok", "scraped": 1, "retry": 1}
    assert [s.views for s in await _snapshots(session)] == [60_000]
    rows = [r for r in await _rows(session) if r[0] == "48h"]
    assert rows == [("48h", "done", 2, ""),
                    ("48h", "pending", 2, "not in the scraper's results")]  # fmt: skip


async def test_without_apify_token_the_job_is_skipped_with_its_reason(
    client: httpx.AsyncClient, auth: dict[str, str], session: AsyncSession,
    test_settings: Settings, sessions: async_sessionmaker[AsyncSession],
) -> None:  # fmt: skip
    await _posted(client, auth, session, _url(6))
    async with httpx.AsyncClient() as http:
        ctx = await _ctx(test_settings, sessions, http)
        assert follow_up.fetcher_for(ctx) is None
        result = await outcome_follow_up(ctx)
    assert result is not None
    assert result["status"] == "skipped"
    assert "APIFY_TOKEN" in result["reason"]
    assert result["due"] == 1
    assert await _rows(session) == [("48h", "pending", 0, ""), ("7d", "pending", 0, "")]


async def test_a_crashed_claim_is_reclaimed_after_the_stale_threshold_and_done_once(
    client: httpx.AsyncClient, auth: dict[str, str], session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession], job_ctx: JobContext,
) -> None:  # fmt: skip
    await _posted(client, auth, session, _url(7))
    with pytest.raises(WorkerKilled):
        await follow_up.follow_up(sessions, fetcher=Dying())
    assert await _rows(session) == [("48h", "running", 1, ""), ("7d", "pending", 0, "")]

    scraper = Scraper()
    follow_up.use_fetcher_factory(lambda ctx: scraper)
    assert await outcome_follow_up(job_ctx) == {"status": "ok"}  # claim still fresh: left alone
    assert scraper.calls == []

    # The crash happened longer ago than the stale threshold.
    await session.execute(
        update(OutcomeFollowUp).values(claimed_at=datetime.now(UTC) - STALE - timedelta(minutes=1))
    )
    await session.flush()
    assert await outcome_follow_up(job_ctx) == {"status": "ok", "reclaimed": 1, "scraped": 1}
    assert await outcome_follow_up(job_ctx) == {"status": "ok"}
    assert scraper.calls == [_url(7)]
    assert [s.views for s in await _snapshots(session)] == [70_000]
    assert await _rows(session) == [("48h", "done", 2, ""), ("7d", "pending", 0, "")]


async def test_a_slow_worker_whose_claim_was_taken_over_stores_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
) -> None:  # fmt: skip
    await _posted(client, auth, session, _url(8))
    start = datetime.now(UTC)
    rescuer = Scraper(views=80_000)
    taken_over: list[dict[str, Any]] = []

    class Slow:
        async def fetch_many(self, urls: Sequence[str]) -> Mapping[str, PostMetrics | None]:
            # While this worker waits, another one finds the claim stale and finishes it.
            later = start + STALE + timedelta(minutes=1)
            taken_over.append(await follow_up.follow_up(sessions, fetcher=rescuer, now=later))
            return {url: PostMetrics(views=75_000) for url in urls}

    slow = await follow_up.follow_up(sessions, fetcher=Slow(), now=start, stale_after=STALE)
    assert taken_over == [{"status": "ok", "reclaimed": 1, "scraped": 1}]
    assert slow == {"status": "ok", "lost": 1}
    assert [s.views for s in await _snapshots(session)] == [80_000]
    assert (await _rows(session))[0] == ("48h", "done", 2, "")


async def test_a_row_whose_workers_keep_dying_is_given_up(
    client: httpx.AsyncClient, auth: dict[str, str], session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
) -> None:  # fmt: skip
    await _posted(client, auth, session, _url(9))
    now = datetime.now(UTC)
    for crash in range(follow_up.MAX_ATTEMPTS):
        with pytest.raises(WorkerKilled):
            await follow_up.follow_up(sessions, fetcher=Dying(), now=now + crash * 2 * STALE)
    scraper = Scraper()
    end = now + follow_up.MAX_ATTEMPTS * 2 * STALE
    assert await follow_up.follow_up(sessions, fetcher=scraper, now=end) == {"status": "ok"}
    assert scraper.calls == []
    checkpoint, status, attempts, error = (await _rows(session))[0]
    assert (checkpoint, status, attempts) == ("48h", "failed", 3)
    assert "never finished" in error
