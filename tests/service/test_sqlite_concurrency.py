"""D1: several writer processes on one SQLite file lose nothing and never see "locked"."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from virtuna.config import Settings
from virtuna.errors import Conflict
from virtuna.kit import migrate
from virtuna.kit.db import create_engine, create_session_factory, unit_of_work
from virtuna.models import User
from virtuna.users import service as users

WRITERS = 8
SECONDS = float(os.environ.get("VIRTUNA_D1_SECONDS", "4"))


def _settings(path: Path) -> Settings:
    return Settings(
        VIRTUNA_DATA_DIR=path.parent, VIRTUNA_DATABASE_URL=f"sqlite:///{path}", _env_file=None
    )


async def _write_loop(path: Path, worker: int, seconds: float) -> tuple[int, list[str]]:
    engine = create_engine(_settings(path))
    factory = create_session_factory(engine)
    commits, errors = 0, []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            # Read-then-write through the real service: the pattern that deadlocks on
            # deferred transactions.
            async with unit_of_work(factory) as session:
                await users.create_user(session, email=f"w{worker}-{commits}@example.com")
            commits += 1
        except Conflict:
            errors.append("conflict")
        except Exception as exc:  # counted, not raised: the parent asserts on them
            errors.append(f"{type(exc).__name__}: {exc}")
    await engine.dispose()
    return commits, errors


def _worker(path: str, worker: int, seconds: float, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put(asyncio.run(_write_loop(Path(path), worker, seconds)))


@pytest.mark.slow
def test_eight_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "d1.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(str(path), w, SECONDS, queue)) for w in range(WRITERS)
    ]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=SECONDS + 120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    errors = [e for _, errs in results for e in errs]
    committed = sum(c for c, _ in results)

    async def count() -> int:
        engine = create_engine(_settings(path))
        async with engine.connect() as conn:
            total = await conn.scalar(select(func.count()).select_from(User))
        await engine.dispose()
        return int(total or 0)

    assert errors == []
    assert committed > WRITERS  # every writer made progress
    assert asyncio.run(count()) == committed
