"""The loop end to end: predictions → outcomes (API and follow-up scrape) → audit →
calibrator activated → new predictions served calibrated, with the calibrator's version."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from tests.service.fake_apify import FakeApify
from tests.service.test_follow_up import scraper_item
from tests.service.test_outcomes_api import DRAFT, backdate
from virtuna.config import Settings
from virtuna.jobs import JobContext, registry
from virtuna.jobs.memory import RecordingQueue
from virtuna.jobs.schedule import cron_for, next_slot
from virtuna.models import Analysis, CalibrationReport, Calibrator, Outcome, OutcomeFollowUp
from virtuna.outcomes import follow_up
from virtuna.outcomes.follow_up import PostMetrics
from virtuna.outcomes.tasks import calibration_audit, outcome_follow_up
from virtuna.predictions import calibration as serving
from virtuna.predictions.calibration import clear_cache
from virtuna.users import service as users

# Views at the middle of each tier of the shipped bundle (cut-offs 52K/393K/1.6M/5M).
VIEWS_OF_TIER = {1: 10_000, 2: 150_000, 3: 800_000, 4: 3_000_000, 5: 20_000_000}


class FakeScraper:
    """Answers every URL with fixed counts; records what it was asked."""

    def __init__(self, views: dict[str, int], posted_at: datetime | None = None) -> None:
        self.views = views
        self.posted_at = posted_at
        self.calls: list[str] = []

    async def fetch_many(self, urls: Sequence[str]) -> Mapping[str, PostMetrics | None]:
        self.calls.extend(urls)
        return {url: self._one(url) for url in urls}

    def _one(self, url: str) -> PostMetrics | None:
        if url not in self.views:
            return None
        return PostMetrics(views=self.views[url], likes=1, posted_at=self.posted_at)


class BrokenScraper:
    async def fetch_many(self, urls: Sequence[str]) -> Mapping[str, PostMetrics | None]:
        raise TimeoutError("actor run timed out")


async def run_task(fn: Callable[..., Awaitable[dict[str, Any] | None]], ctx: JobContext
                   ) -> dict[str, Any]:  # fmt: skip
    result = await fn(ctx)
    assert result is not None
    return result


@pytest.fixture(autouse=True)
def _isolated() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()
    follow_up.use_fetcher_factory(None)


@pytest.fixture
def sessions(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Job sessions inside the test's rolled-back transaction (commits are savepoints)."""
    return async_sessionmaker(bind=connection, expire_on_commit=False,
                              join_transaction_mode="create_savepoint")  # fmt: skip


@pytest.fixture
async def job_ctx(
    test_settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[JobContext]:
    async with httpx.AsyncClient() as http:
        yield JobContext(settings=test_settings, sessions=sessions, http=http,
                         jobs=RecordingQueue())  # fmt: skip


@pytest.fixture
def fake() -> Iterator[FakeApify]:
    server = FakeApify()
    yield server
    server.close()


@pytest.fixture
async def pro_auth(session: AsyncSession) -> dict[str, str]:
    created = await users.create_user(
        session, email=f"loop{uuid.uuid4().hex[:6]}@example.com", plan="pro"
    )
    return {"Authorization": f"Bearer {created.api_key}"}


def _url(index: int) -> str:
    return f"https://www.tiktok.com/@chef.sam/video/{7_300_000_000_000_000_000 + index}"


async def test_follow_up_scrapes_each_checkpoint_once(
    client: httpx.AsyncClient, pro_auth: dict[str, str], session: AsyncSession,
    job_ctx: JobContext,
) -> None:  # fmt: skip
    analysis_id = (await client.post("/api/analyze", json=DRAFT, headers=pro_auth)).json()["id"]
    posted = await backdate(session, analysis_id, days=3)
    response = await client.post(
        "/api/outcomes",
        json={
            "analysis_id": analysis_id,
            "posted_url": _url(1),
            "observed_at": (posted + timedelta(hours=1)).isoformat(),
        },  # fmt: skip
        headers=pro_auth,
    )
    assert response.status_code == 201, response.text
    assert job_ctx.settings.apify_token is None
    assert await run_task(outcome_follow_up, job_ctx) == {
        "status": "skipped", "due": 1,
        "reason": "no post-metrics scraper configured (APIFY_TOKEN is not set)",
    }  # fmt: skip
    scraper = FakeScraper({_url(1): 70_000}, posted_at=posted)
    follow_up.use_fetcher_factory(lambda ctx: scraper)
    first = await run_task(outcome_follow_up, job_ctx)
    assert first == {"status": "ok", "scraped": 1}  # 48 h is due, 7 days is not
    assert await run_task(outcome_follow_up, job_ctx) == {"status": "ok"}  # nothing due: no scrape
    assert scraper.calls == [_url(1)]
    snapshots = (await session.scalars(select(Outcome).where(Outcome.source == "scrape"))).all()
    assert [(s.views, s.posted_at) for s in snapshots] == [(70_000, posted)]
    rows = (await session.execute(select(OutcomeFollowUp.checkpoint, OutcomeFollowUp.status))).all()
    assert sorted((r.checkpoint, r.status) for r in rows) == [("48h", "done"), ("7d", "pending")]


async def test_a_failing_scraper_is_retried_then_given_up(
    client: httpx.AsyncClient, pro_auth: dict[str, str], session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
) -> None:  # fmt: skip
    analysis_id = (await client.post("/api/analyze", json=DRAFT, headers=pro_auth)).json()["id"]
    posted = await backdate(session, analysis_id, days=3)
    await client.post(
        "/api/outcomes",
        json={
            "analysis_id": analysis_id,
            "posted_url": _url(2),
            "observed_at": (posted + timedelta(hours=1)).isoformat(),
        },  # fmt: skip
        headers=pro_auth,
    )
    now = datetime.now(UTC)
    results = []
    for attempt in range(4):  # each retry waits an hour
        when = now + timedelta(hours=2 * attempt)
        results.append(await follow_up.follow_up(sessions, fetcher=BrokenScraper(), now=when))
    assert results == [{"status": "ok", "retry": 1}, {"status": "ok", "retry": 1},
                       {"status": "ok", "failed": 1}, {"status": "ok"}]  # fmt: skip
    row = await session.scalar(select(OutcomeFollowUp).where(OutcomeFollowUp.checkpoint == "48h"))
    assert row is not None
    await session.refresh(row)
    assert (row.status, row.attempts) == ("failed", 3)
    assert "timed out" in (row.error or "")


async def _served_rows(
    client: httpx.AsyncClient, auth: dict[str, str], session: AsyncSession, n: int
) -> list[tuple[str, datetime]]:
    made = []
    for index in range(n):
        body = (await client.post("/api/analyze", json=DRAFT, headers=auth)).json()
        # Serving order is the order the gate holds out by: space them a minute apart.
        made.append((body["id"], await backdate(session, body["id"], days=12 - index / 1440)))
    return made


async def _check_admin_report(
    client: httpx.AsyncClient, session: AsyncSession, version: str
) -> None:
    """The admin report: per (engine, mode) group with its count, intervals and bins."""
    admin = await users.create_user(session, email=f"a{uuid.uuid4().hex[:6]}@example.com",
                                    is_admin=True)  # fmt: skip
    response = await client.get(
        "/api/admin/calibration-report", headers={"Authorization": f"Bearer {admin.api_key}"}
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["joined_rows"] == 60
    (group,) = report["groups"]
    assert (group["input_mode"], group["n"]) == ("text", 60)
    assert group["engine_version"]
    for population in (report["pooled"], group["raw"]):
        metrics = population["metrics"]
        assert population["n"] == 60
        for name in ("ece_top_10", "ece_top_15", "ece_tier5_10", "ece_tier5_15", "brier", "nll"):
            low, high = metrics[name]["ci95"]  # 60 rows: reported with an interval
            assert 0 <= low <= high, name
        bins = population["reliability"]
        # The non-empty bins of the reliability diagrams (here every draft is the same one).
        assert 1 <= len(bins["top_label_15"]) <= 15
        assert 1 <= len(bins["tier5_10"]) <= 10
        for key in ("top_label_15", "tier5_10"):
            assert sum(b["count"] for b in bins[key]) == 60
            assert all(0 <= b["observed_rate"] <= 1 for b in bins[key])
    assert [c["version"] for c in report["active_calibrators"]] == [version]
    assert report["last_audit"]["decisions"][0]["version"] == version


async def test_audit_activates_a_calibrator_that_new_predictions_use(
    client: httpx.AsyncClient, pro_auth: dict[str, str], session: AsyncSession,
    job_ctx: JobContext, fake: FakeApify,
) -> None:  # fmt: skip
    made = await _served_rows(client, pro_auth, session, 60)
    first = (await client.get(f"/api/analysis/{made[0][0]}", headers=pro_auth)).json()
    assert first["is_calibrated"] is False
    assert first["calibrator_version"] is None
    # Real outcomes spread evenly over the five tiers: the model's confident single-draft
    # probabilities are over-confident for them. Half come from the owner, half from the
    # follow-up scrape of the posted URL.
    scraped: dict[str, int] = {}
    for index, (analysis_id, posted) in enumerate(made):
        views = VIEWS_OF_TIER[index % 5 + 1]
        body: dict[str, Any] = {"analysis_id": analysis_id, "posted_at": posted.isoformat(),
                "observed_at": (posted + timedelta(days=1)).isoformat()}  # fmt: skip
        if index % 2:
            body |= {"views": views, "observed_at": (posted + timedelta(days=8)).isoformat()}
        else:
            body |= {"posted_url": _url(index)}
            scraped[_url(index)] = views
        response = await client.post("/api/outcomes", json=body, headers=pro_auth)
        assert response.status_code == 201, response.text
    # The production fetcher (Apify, through apify-client) against the local fake API.
    for analysis_id, posted in made[::2]:
        url = _url(made.index((analysis_id, posted)))
        fake.posts[url] = scraper_item(url.rsplit("/", 1)[1], posted, scraped[url])
    job_ctx.settings = job_ctx.settings.model_copy(
        update={"apify_token": SecretStr("apify_api_test"), "apify_base_url": fake.url}
    )
    scrape = await run_task(outcome_follow_up, job_ctx)
    assert scrape == {"status": "ok", "scraped": 30}  # both checkpoints due: 1 fetch each
    assert len([r for r in fake.requests if r.method == "POST"]) == 1  # one actor run

    summary = await run_task(calibration_audit, job_ctx)
    assert summary["status"] == "ok"
    assert summary["joined_rows"] == 60
    assert len(summary["activated"]) == 1
    version = summary["activated"][0]
    row = await session.scalar(select(Calibrator).where(Calibrator.version == version))
    assert row is not None
    assert row.active
    assert row.kind == "temperature"
    assert row.params["temperature"] > 1  # it softens over-confident probabilities
    assert row.metrics["after"]["nll"] < row.metrics["before"]["nll"]
    assert row.metrics["after"]["ece"] < row.metrics["before"]["ece"]
    assert await session.scalar(select(func.count()).select_from(CalibrationReport)) == 1
    await _check_admin_report(client, session, version)

    new = (await client.post("/api/analyze", json=DRAFT, headers=pro_auth)).json()
    assert new["is_calibrated"] is True
    assert new["calibrator_version"] == version
    assert max(new["tier_probabilities"]) < max(first["tier_probabilities"])
    stored = await session.get(Analysis, uuid.UUID(new["id"]))
    assert stored is not None
    assert stored.raw_tier_probabilities == pytest.approx(first["tier_probabilities"])
    assert stored.calibrator_version == version
    # The ledger keeps what produced the served prediction.
    assert (stored.engine_version, stored.model_version, stored.input_mode) == (
        new["engine_version"], new["model_version"], "text",
    )  # fmt: skip
    assert stored.model_version is not None
    assert stored.tier_probabilities == new["tier_probabilities"]
    assert 0 <= stored.raw_score <= 100
    again = (await client.get(f"/api/analysis/{new['id']}", headers=pro_auth)).json()
    assert again["calibrator_version"] == version
    assert again["is_calibrated"] is True

    # A second audit fits on the raw probabilities, never on the served ones: make every
    # served row look calibrated to uniform; the refit must not notice.
    ids = [uuid.UUID(analysis_id) for analysis_id, _ in made]
    await session.execute(
        update(Analysis).where(Analysis.id.in_(ids)).values(tier_probabilities=[0.2] * 5)
    )
    second = await run_task(calibration_audit, job_ctx)
    assert len(second["activated"]) == 1
    assert second["activated"] != summary["activated"]
    active = (await session.scalars(select(Calibrator).where(Calibrator.active))).all()
    assert [c.version for c in active] == second["activated"]  # the new one replaced the old
    assert active[0].params["temperature"] == pytest.approx(row.params["temperature"])


async def test_audit_refuses_to_calibrate_below_the_minimum(
    client: httpx.AsyncClient, pro_auth: dict[str, str], session: AsyncSession,
    job_ctx: JobContext,
) -> None:  # fmt: skip
    for analysis_id, posted in await _served_rows(client, pro_auth, session, 5):
        await client.post(
            "/api/outcomes",
            json={
                "analysis_id": analysis_id,
                "views": 5_000_000,
                "observed_at": (posted + timedelta(days=8)).isoformat(),
            },  # fmt: skip
            headers=pro_auth,
        )
    summary = await run_task(calibration_audit, job_ctx)
    assert summary["activated"] == []
    assert await session.scalar(select(func.count()).select_from(Calibrator)) == 0
    new = (await client.post("/api/analyze", json=DRAFT, headers=pro_auth)).json()
    assert new["is_calibrated"] is False
    assert new["calibrator_version"] is None
    # Stored rows stay exactly what was served: raw and served probabilities are the same.
    stored = (await session.scalars(select(Analysis))).all()
    assert len(stored) == 6
    for analysis in stored:
        assert (analysis.is_calibrated, analysis.calibrator_version) == (False, None)
        assert analysis.tier_probabilities == analysis.raw_tier_probabilities


async def test_every_process_serves_an_activation_within_a_minute(
    client: httpx.AsyncClient, pro_auth: dict[str, str], session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """This process cached "no calibrator"; another one activates a calibrator row. The
    activation is read from the database once the cache expires: in under a minute."""
    clock = [1_000.0]
    monkeypatch.setattr(serving, "clock", lambda: clock[0])
    before = (await client.post("/api/analyze", json=DRAFT, headers=pro_auth)).json()
    assert before["is_calibrated"] is False
    session.add(Calibrator(
        version="cal-elsewhere", engine_version=before["engine_version"],
        model_version=before["model_version"], input_mode=before["input_mode"],
        kind="temperature", params={"kind": "temperature", "temperature": 2.0}, horizon_days=7,
        fit_rows=100, holdout_rows=40, metrics={}, active=True, activated_at=datetime.now(UTC),
    ))  # fmt: skip
    await session.flush()
    assert serving.CACHE_TTL_SECONDS < 60
    clock[0] += serving.CACHE_TTL_SECONDS + 1
    after = (await client.post("/api/analyze", json=DRAFT, headers=pro_auth)).json()
    assert after["is_calibrated"] is True
    assert after["calibrator_version"] == "cal-elsewhere"
    assert max(after["tier_probabilities"]) < max(before["tier_probabilities"])


def test_the_audit_runs_monthly_and_the_follow_up_every_quarter_hour() -> None:
    settings = Settings(_env_file=None)
    audit, scrape = registry.get("calibration-audit"), registry.get("outcome-follow-up")
    assert audit is not None
    assert scrape is not None
    audit_cron, scrape_cron = cron_for(settings, audit), cron_for(settings, scrape)
    assert audit_cron is not None
    assert scrape_cron is not None
    first = next_slot(audit_cron, datetime(2026, 1, 15, tzinfo=UTC))
    assert first == datetime(2026, 2, 1, 4, tzinfo=UTC)
    assert next_slot(audit_cron, first) == datetime(2026, 3, 1, 4, tzinfo=UTC)
    start = datetime(2026, 1, 15, 10, 1, tzinfo=UTC)
    assert next_slot(scrape_cron, start) - start == timedelta(minutes=14)
