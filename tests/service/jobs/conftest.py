"""Fixtures for job-engine tests: a fresh database per test (workers use many connections,
which the shared rolled-back session cannot give), fast timings, both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import BACKENDS
from tests.service.jobs import sample_tasks
from tests.service.test_migrations import _drop, _fresh_url
from virtuna.config import Environment, Settings
from virtuna.kit import migrate
from virtuna.kit.db import create_engine, create_session_factory
from virtuna.worker.runtime import JobSystem, open_jobs


@pytest.fixture(params=BACKENDS)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = _fresh_url(request.param, tmp_path)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        _drop(url)


def fast_settings(url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "VIRTUNA_ENV": Environment.TEST,
        "VIRTUNA_DATA_DIR": data_dir,
        "VIRTUNA_DATABASE_URL": url,
        "VIRTUNA_AUTO_MIGRATE": False,
        "LOG_FORMAT": "json",
        "VIRTUNA_JOBS_POLL_SECONDS": 0.05,
        "VIRTUNA_JOBS_HEARTBEAT_SECONDS": 0.5,
        "VIRTUNA_JOBS_STALLED_SECONDS": 2,
        "VIRTUNA_JOBS_SWEEP_SECONDS": 0.5,
        "VIRTUNA_JOBS_SHUTDOWN_GRACE_SECONDS": 5,
        "VIRTUNA_JOBS_CONCURRENCY": 4,
    }
    values.update(overrides)
    return Settings.model_validate({**values, "_env_file": None})


@pytest.fixture
def job_settings(fresh_url: str, tmp_path: Path) -> Settings:
    return fast_settings(fresh_url, tmp_path)


@pytest.fixture
async def system(job_settings: Settings) -> AsyncIterator[JobSystem]:
    sample_tasks.reset()
    engine = create_engine(job_settings)
    try:
        async with httpx.AsyncClient() as http:
            async with open_jobs(job_settings, create_session_factory(engine), http) as jobs:
                yield jobs
    finally:
        await engine.dispose()
