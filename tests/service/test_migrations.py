"""The migrations build exactly the ORM's schema, and round-trip, on both backends."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.service.conftest import BACKENDS, PG_ADMIN_DSN, _pg_url
from virtuna.kit import migrate


def _fresh_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    name = f"virtuna_mig_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return _pg_url(name)


def _drop(url: str) -> None:
    if url.startswith("postgresql"):
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_match_models_and_round_trip(backend: str, tmp_path: Path) -> None:
    url = _fresh_url(backend, tmp_path)
    try:
        migrate.upgrade(url)
        migrate.check(url)  # raises if models and migrated schema differ
        head = migrate.head_revision(url)
        assert migrate.current_revision(url) == head
        migrate.downgrade(url, "base")
        assert migrate.current_revision(url) is None
        migrate.upgrade(url)
        migrate.check(url)
        assert migrate.current_revision(url) == head
    finally:
        _drop(url)


def _all_revisions(url: str) -> list[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config(url))
    return [rev.revision for rev in script.walk_revisions()]


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_starters_migrate_once(backend: str, tmp_path: Path) -> None:
    """Four processes start at once on an empty database: all succeed, schema at head."""
    url = _fresh_url(backend, tmp_path)
    env = {
        **os.environ,
        "VIRTUNA_DATABASE_URL": url,
        "VIRTUNA_DATA_DIR": str(tmp_path),
        "LOG_FORMAT": "json",
    }
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "virtuna", "db", "upgrade"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(4)
        ]
        results = [p.communicate(timeout=120) for p in procs]
        codes = [p.returncode for p in procs]
        assert codes == [0, 0, 0, 0], results
        applied = [int(out.decode().split("applied ")[1].split()[0]) for out, _ in results]
        assert sorted(applied) == [0, 0, 0, len(_all_revisions(url))], results
        assert migrate.current_revision(url) == migrate.head_revision(url)
        migrate.check(url)
    finally:
        _drop(url)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_servers_start_at_once_on_an_empty_database(backend: str, tmp_path: Path) -> None:
    """`virtuna serve` twice at once: one migrates, both answer /readyz at head."""
    import time

    import httpx

    url = _fresh_url(backend, tmp_path)
    env = {
        **os.environ,
        "VIRTUNA_DATABASE_URL": url,
        "VIRTUNA_DATA_DIR": str(tmp_path),
        "LOG_FORMAT": "json",
    }
    ports = [_free_port(), _free_port()]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "virtuna", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for port in ports
    ]
    try:
        ready: dict[int, int] = {}
        deadline = time.monotonic() + 90
        while len(ready) < 2 and time.monotonic() < deadline:
            for port in ports:
                try:
                    ready[port] = httpx.get(
                        f"http://127.0.0.1:{port}/readyz", timeout=2
                    ).status_code
                except httpx.HTTPError:
                    time.sleep(0.3)
        assert ready == dict.fromkeys(ports, 200)
    finally:
        for proc in procs:
            proc.terminate()
        logs = [proc.communicate(timeout=30)[1].decode() for proc in procs]
        _drop(url)
    assert sum(log.count('"db.migrated"') for log in logs) == 1, logs
