"""Prepare the database before a process serves: migrate (exactly once) and seed.

PostgreSQL serialises concurrent migrators with an advisory lock inside Alembic's env;
SQLite has no such lock, so processes on one host serialise on an exclusive file lock.
"""

from __future__ import annotations

import asyncio
import fcntl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.config import Settings
from virtuna.kit import migrate
from virtuna.kit.db import create_engine, create_session_factory, unit_of_work

log = structlog.get_logger("virtuna.db")


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True, slots=True)
class MigrationReport:
    revision: str | None
    applied: list[str]


def migrate_database(settings: Settings) -> MigrationReport:
    """Upgrade to head; reports the revision now current and the steps this process applied."""
    url = settings.resolved_database_url
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        with _file_lock(settings.data_dir / ".migrate.lock"):
            applied = migrate.upgrade(url)
    else:
        applied = migrate.upgrade(url)
    if applied:
        log.info("db.migrated", steps=applied)
    return MigrationReport(revision=migrate.current_revision(url), applied=applied)


@asynccontextmanager
async def session_scope(settings: Settings, *, migrate: bool = True) -> AsyncIterator[AsyncSession]:
    """For one-shot commands: a migrated database and one committed-or-rolled-back
    transaction, the engine disposed afterwards."""
    if migrate and settings.auto_migrate:
        await asyncio.to_thread(migrate_database, settings)
    engine = create_engine(settings)
    try:
        async with unit_of_work(create_session_factory(engine)) as session:
            yield session
    finally:
        await engine.dispose()
