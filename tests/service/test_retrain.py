"""retrain-ml end to end on a small real sample: dataset from the database, the model
registry, the promotion gate (failed and passed), and hot reload in a serving process."""

from __future__ import annotations

import gzip
import json
import shutil
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from virtuna.config import Settings
from virtuna.engine.bundle import load_default_bundle
from virtuna.engine.features import build_features
from virtuna.engine.pipeline import Engine
from virtuna.jobs import JobContext, registry
from virtuna.jobs.memory import RecordingQueue
from virtuna.kit.ratelimit import SlidingWindowLimiter
from virtuna.kit.web import AppState
from virtuna.models.ml import CHALLENGER, CHAMPION, RETIRED
from virtuna.predictions.model_reload import ModelWatcher, watch_champion
from virtuna.training import registry as models
from virtuna.training.dataset import build_inputs
from virtuna.training.from_db import records_from_db
from virtuna.training.records import record_from_item
from virtuna.training.tasks import retrain_ml
from virtuna.videos.schemas import ScraperItem
from virtuna.videos.service import ingest_batch

SOURCES = ("datares-creators-2020", "thienphucle-vn-feed", "vphuhan-vn-creators")
WHEN = datetime(2025, 7, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def raw_items(tiktok_data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Every video of 1 in 25 creators per source (complete histories, ~2.9K rows)."""
    out = {}
    for source in SOURCES:
        with gzip.open(tiktok_data_dir / source / "videos.jsonl.gz", "rt") as fh:
            items = [json.loads(line) for line in fh]
        names = [i["authorMeta"]["name"].lower().encode() for i in items]
        out[source] = [i for i, n in zip(items, names, strict=True) if zlib.crc32(n) % 25 == 3]
    return out


@pytest.fixture
def sessions(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions whose commits are savepoints of the test's rolled-back transaction."""
    return async_sessionmaker(bind=connection, expire_on_commit=False,
                              join_transaction_mode="create_savepoint")  # fmt: skip


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def _ingest(session: AsyncSession, raw: dict[str, list[dict[str, Any]]]) -> None:
    for source, items in raw.items():
        valid = [ScraperItem.model_validate(i) for i in items]
        await ingest_batch(session, valid, source=source, default_scraped_at=WHEN)
    await session.flush()


def _context(settings: Settings, sessions: async_sessionmaker[AsyncSession],
             http: httpx.AsyncClient, tmp_path: Path, **overrides: Any) -> JobContext:  # fmt: skip
    configured = settings.model_copy(
        update={"data_dir": tmp_path, "ml_min_db_rows": 100, **overrides}
    )
    return JobContext(settings=configured, sessions=sessions, http=http, jobs=RecordingQueue())


async def _run(ctx: JobContext, **args: Any) -> dict[str, Any]:
    """Call the task as the runner would (directly, with its context)."""
    result = await retrain_ml(ctx, **args)
    assert result is not None
    return result


def test_the_task_is_declared_weekly_under_the_ml_lock() -> None:
    spec = registry.get("retrain-ml")
    assert spec is not None
    assert (spec.schedule_setting, spec.lock) == ("schedule_retrain_ml", "ml")


async def test_database_records_are_the_files_records(
    session: AsyncSession, raw_items: dict[str, list[dict[str, Any]]]
) -> None:
    await _ingest(session, raw_items)
    from_db = {r.id: r for r in await records_from_db(session)}
    from_files = [record_from_item(i, s) for s, items in raw_items.items() for i in items]
    assert set(from_db) == {r.id for r in from_files}
    ordered = [from_db[r.id] for r in from_files]
    for a, b in zip(from_files, ordered, strict=True):
        assert (a.source, a.outcome.views, a.draft.created_at) == (b.source, b.outcome.views,
                                                                  b.draft.created_at)  # fmt: skip
    # Same model input either way (hashtags' case and the item's own order aside).
    for x, y in zip(build_inputs(from_files)[::7], build_inputs(ordered)[::7], strict=True):
        fx, fy = build_features(x), build_features(y)
        assert all(fx[k] == fy[k] or (fx[k] != fx[k] and fy[k] != fy[k]) for k in fx)


async def test_too_little_data_and_no_fallback_skips(
    sessions: async_sessionmaker[AsyncSession], test_settings: Settings,
    http: httpx.AsyncClient, tmp_path: Path,
) -> None:  # fmt: skip
    ctx = _context(test_settings, sessions, http, tmp_path, ml_min_db_rows=10_000)
    result = await _run(ctx)
    assert result["status"] == "skipped"
    assert "VIRTUNA_ML_MIN_DB_ROWS=10000" in result["reason"]
    async with sessions() as s:
        assert list(await models.all_models(s)) == []


async def test_gate_keeps_the_champion_then_promotes_and_serving_reloads(
    session: AsyncSession, sessions: async_sessionmaker[AsyncSession],
    raw_items: dict[str, list[dict[str, Any]]], test_settings: Settings,
    http: httpx.AsyncClient, tmp_path: Path,
) -> None:  # fmt: skip
    await _ingest(session, raw_items)
    await session.commit()
    shipped = load_default_bundle()
    assert shipped is not None
    # Tolerance 0: a challenger fitted on ~2K rows does not match the shipped model.
    strict = _context(test_settings, sessions, http, tmp_path, ml_promotion_tolerance=0.0)
    kept = await _run(strict)
    assert kept["status"] == "kept_champion", kept
    assert kept["champion"] == shipped.version
    assert kept["data_source"] == "db"
    gate = kept["gate"]
    assert gate["window_rows"] > 100
    assert gate["challenger"]["spearman"] < gate["champion"]["spearman"] or (
        gate["challenger"]["macro_f1"] < gate["champion"]["macro_f1"]
    )
    async with sessions() as s:
        rows = {m.version: m for m in await models.all_models(s)}
    assert rows[shipped.version].status == CHAMPION
    challenger = rows[kept["challenger"]]
    assert challenger.status == CHALLENGER  # kept, with its files: nothing is deleted
    assert challenger.metrics["gate"]["promoted"] is False
    assert Path(challenger.path or "", "model.txt").is_file()
    assert (await _run(strict))["status"] == "unchanged"  # same data, same seed

    state = _state(strict.settings, sessions, http, Engine(predictor=shipped))
    watcher = ModelWatcher(state)
    assert await watcher.check() is False  # the champion is what is served

    lenient = _context(test_settings, sessions, http, tmp_path, ml_promotion_tolerance=0.5)
    promoted = await _run(lenient, seed=7)
    assert promoted["status"] == "promoted", promoted
    async with sessions() as s:
        champion = await models.champion(s)
        old = await models.get(s, shipped.version)
    assert champion is not None
    assert champion.version == promoted["challenger"]
    assert old is not None
    assert (old.status, old.retired_at is not None) == (RETIRED, True)

    # Hot reload from the registry's stored zip (this host lost the files).
    shutil.rmtree(champion.path or "")
    before = state.extras["engine"]
    assert await watcher.check() is True
    after = state.extras["engine"]
    assert after is not before
    assert after.predictor.version == champion.version
    assert before.predictor.version == shipped.version  # requests in flight keep theirs
    assert await watcher.check() is False


def _state(settings: Settings, sessions: async_sessionmaker[AsyncSession],
           http: httpx.AsyncClient, engine: Engine | None = None) -> AppState:  # fmt: skip
    return AppState(
        settings=settings,
        engine=None,  # type: ignore[arg-type]  # the watcher never touches the db engine
        sessions=sessions,
        http=http,
        auth_failures=SlidingWindowLimiter(10, 60),
        extras={"engine": engine} if engine is not None else {},
    )


async def test_a_pinned_model_or_refresh_zero_never_reloads(
    sessions: async_sessionmaker[AsyncSession], test_settings: Settings, http: httpx.AsyncClient
) -> None:
    for update in ({"model_dir": Path("/pinned")}, {"model_refresh_seconds": 0.0}):
        pinned = _state(test_settings.model_copy(update=update), sessions, http)
        async with watch_champion(pinned) as watcher:
            assert watcher is None
    async with watch_champion(_state(test_settings, sessions, http)) as watcher:
        assert isinstance(watcher, ModelWatcher)
