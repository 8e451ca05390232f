"""Database fixtures: every test here runs on SQLite *and* PostgreSQL.

One database per backend per test run, migrated once (which exercises the migrations);
each test runs inside a transaction that is rolled back, so tests never see each other.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from virtuna.api.app import create_app
from virtuna.config import Environment, Settings
from virtuna.kit import migrate
from virtuna.kit.db import create_engine, create_session_factory, unit_of_work
from virtuna.kit.web import get_session
from virtuna.predictions.rules import seed_rules
from virtuna.users import service as users

PG_ADMIN_DSN = os.environ.get(
    "VIRTUNA_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _postgres_reachable() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        if os.environ.get("VIRTUNA_REQUIRE_POSTGRES"):
            raise
        return False


# PostgreSQL is required in CI (VIRTUNA_REQUIRE_POSTGRES=1); on a laptop without a server the
# suite still runs on SQLite and says so in its summary (see pytest_terminal_summary).
POSTGRES_AVAILABLE = _postgres_reachable()
BACKENDS = ["sqlite", "postgres"] if POSTGRES_AVAILABLE else ["sqlite"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not POSTGRES_AVAILABLE:
        terminalreporter.write_line(
            f"WARNING: PostgreSQL not reachable at {PG_ADMIN_DSN}; database tests ran on SQLite "
            "only (set VIRTUNA_TEST_PG_DSN, or VIRTUNA_REQUIRE_POSTGRES=1 to fail instead)",
            yellow=True,
        )


def _pg_url(name: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


def _prepare(url: str) -> None:
    """Migrate (which tests the migrations) and seed the rule library, committed once."""
    migrate.upgrade(url)

    async def seed() -> None:
        engine = create_engine(Settings(VIRTUNA_DATABASE_URL=url, _env_file=None))
        async with unit_of_work(create_session_factory(engine)) as session:
            await seed_rules(session)
        await engine.dispose()

    asyncio.run(seed())


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "test.db"
        url = f"sqlite+aiosqlite:///{path}"
        _prepare(url)
        yield url
        return
    name = f"virtuna_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _pg_url(name)
    try:
        _prepare(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def test_settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir: Path = tmp_path_factory.mktemp("data")
    return Settings(
        VIRTUNA_ENV=Environment.TEST,
        VIRTUNA_DATA_DIR=data_dir,
        VIRTUNA_DATABASE_URL=database_url,
        VIRTUNA_AUTO_MIGRATE=False,
        LOG_FORMAT="json",
        _env_file=None,
    )


@pytest.fixture(scope="session")
async def db_engine(test_settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(test_settings)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(db_engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with db_engine.connect() as conn:
        transaction = await conn.begin()
        try:
            yield conn
        finally:
            await transaction.rollback()


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    """A session whose commits become savepoints of the test's rolled-back transaction."""
    async with AsyncSession(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    ) as s:
        yield s


@pytest.fixture
async def app(test_settings: Settings, session: AsyncSession) -> AsyncIterator[FastAPI]:
    application = create_app(test_settings)

    async def _session() -> AsyncIterator[AsyncSession]:
        yield session
        await session.commit()

    application.dependency_overrides[get_session] = _session
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def user_key(session: AsyncSession) -> str:
    created = await users.create_user(session, email=f"u{uuid.uuid4().hex[:8]}@example.com")
    return created.api_key


@pytest.fixture
def auth(user_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {user_key}"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the SQLite runs of tests marked ``postgres_only`` (a property of PG)."""
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        is_sqlite = "[sqlite" in item.nodeid or "-sqlite" in item.nodeid
        (drop if item.get_closest_marker("postgres_only") and is_sqlite else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
