"""Database engines and sessions (SQLAlchemy 2, async).

SQLite is the embedded default. Its settings follow what measured best for several writer
processes on one file: WAL, a busy timeout, ``synchronous=NORMAL`` and ``BEGIN IMMEDIATE`` for
every transaction, so a read-then-write transaction never upgrades its lock half-way (the
source of "database is locked" under contention). PostgreSQL goes through psycopg 3.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool, NullPool

from virtuna.config import Settings


def _install_sqlite_pragmas(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how a transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Read-only work opts out (``READ_ONLY`` execution option) so it never waits on writers.
        readonly = conn.get_execution_options().get("virtuna_readonly", False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


READ_ONLY = {"virtuna_readonly": True}


def create_engine(
    settings: Settings, *, url: str | None = None, one_loop: bool = False
) -> AsyncEngine:
    """The engine for ``settings``. ``one_loop``: the caller uses it from a single event loop
    for its whole life (the API app), so SQLite connections may be pooled."""
    target = url or settings.resolved_database_url
    if target.startswith("sqlite"):
        path = target.split(":///", 1)[-1]
        if path and path != ":memory:":
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(target, **_sqlite_pool(settings, one_loop))
        _install_sqlite_pragmas(engine, settings.sqlite_busy_timeout_ms)
        return engine
    return create_async_engine(
        target, pool_size=settings.db_pool_size, max_overflow=10, pool_pre_ping=True
    )


def _sqlite_pool(settings: Settings, one_loop: bool) -> dict[str, Any]:
    """Pooling arguments for a SQLite engine.

    By default one connection per checkout: pooling aiosqlite connections across event loops
    (CLI commands, tests) causes more trouble than it saves. An engine living in one loop (the
    app) keeps ``db_pool_size`` connections open instead: otherwise each of a request's short
    phases starts a thread, opens the file and runs the pragmas again, four times per
    analysis, and on a busy machine each waits for the new thread to be scheduled. Unlimited
    overflow: a checkout never waits for a free connection, as with ``NullPool``; the extra
    connections close when given back.
    """
    if not one_loop:
        return {"poolclass": NullPool}
    return {
        "poolclass": AsyncAdaptedQueuePool,
        "pool_size": settings.db_pool_size,
        "max_overflow": -1,
    }


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def unit_of_work(
    factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One transaction: commit if the block succeeds, roll back if it raises."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


@asynccontextmanager
async def read_phase(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """A short read-only transaction on ``session``, ended (committed) on exit.

    On SQLite it starts with a plain ``BEGIN`` (``READ_ONLY``), so it takes no write lock and
    never waits on writers; on PostgreSQL reads take no row locks anyway. Used to split a
    request into phases so that no transaction stays open across slow network work.
    """
    if not session.in_transaction():
        await session.connection(execution_options=READ_ONLY)
    try:
        yield session
    except BaseException:
        await session.rollback()
        raise
    await session.commit()


_writers: dict[tuple[int, int], asyncio.Lock] = {}


def _sqlite_writer_lock(session: AsyncSession) -> asyncio.Lock | None:
    """One lock per SQLite database per event loop: this process's writers queue on it (in
    order, woken at once) instead of polling the file lock through ``busy_timeout``, whose
    back-off sleeps grow to 100 ms; other processes still meet at the file lock."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return None
    key = (id(bind.engine), id(asyncio.get_running_loop()))
    lock = _writers.get(key)
    if lock is None:
        if len(_writers) > 64:  # loops and engines of finished tests/commands
            _writers.clear()
        lock = _writers[key] = asyncio.Lock()
    return lock


@asynccontextmanager
async def write_phase(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """A short write transaction on ``session``: committed if the block succeeds, else rolled
    back (``BEGIN IMMEDIATE`` on SQLite, so its read-then-write never upgrades a lock)."""
    lock = _sqlite_writer_lock(session)
    async with lock if lock is not None else contextlib.nullcontext():
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def sync_url(async_url: str) -> str:
    """The synchronous twin of an async URL (migrations run on a sync connection)."""
    if async_url.startswith("sqlite+aiosqlite"):
        return "sqlite" + async_url.removeprefix("sqlite+aiosqlite")
    if async_url.startswith("postgresql+asyncpg"):
        return "postgresql+psycopg" + async_url.removeprefix("postgresql+asyncpg")
    return async_url
