"""Job runner and Whop webhook figures: deferral and execution throughput on both engines,
and webhook acknowledgement latency at a steady rate (RELIABILITY_GOALS W3, in-process).

    python bench/jobs.py [--jobs 500] [--rate 20] [--seconds 20] [--no-write]

Targets: ≥ 10 trivial jobs/s per worker (the workload is a few crons an hour plus one job
per webhook event); webhook ack p99 ≤ 100 ms at 20 req/s.
PostgreSQL runs when VIRTUNA_TEST_PG_DSN (or the default local server) is reachable.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
from standardwebhooks import Webhook

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.service.jobs import sample_tasks  # noqa: F401 - registers test-echo

from common import append_section
from virtuna.api.app import create_app
from virtuna.config import Environment, Settings
from virtuna.kit import migrate
from virtuna.kit.db import create_engine, create_session_factory
from virtuna.worker.runtime import open_jobs

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "ws_bench_secret"


def _settings(url: str, data_dir: Path) -> Settings:
    return Settings.model_validate(
        {
            "VIRTUNA_ENV": Environment.TEST,
            "VIRTUNA_DATA_DIR": data_dir,
            "VIRTUNA_DATABASE_URL": url,
            "VIRTUNA_AUTO_MIGRATE": False,
            "LOG_LEVEL": "WARNING",
            "WHOP_WEBHOOK_SECRET": SECRET,
            "_env_file": None,
        }
    )


def _databases(tmp: Path) -> list[tuple[str, str]]:
    dbs = [("sqlite", f"sqlite+aiosqlite:///{tmp / 'bench.db'}")]
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
            name = f"virtuna_bench_{uuid.uuid4().hex[:8]}"
            conn.execute(f'CREATE DATABASE "{name}"')
        dbs.append(("postgresql", f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"))
    except psycopg.OperationalError:
        pass
    return dbs


async def _throughput(settings: Settings, jobs: int) -> tuple[float, float]:
    engine = create_engine(settings)
    try:
        async with httpx.AsyncClient() as http:
            async with open_jobs(settings, create_session_factory(engine), http) as system:
                started = time.perf_counter()
                for i in range(jobs):
                    await system.queue.defer("test-echo", args={"i": i})
                deferred = time.perf_counter() - started
                started = time.perf_counter()
                await system.worker().run_until_idle()
                ran = time.perf_counter() - started
    finally:
        await engine.dispose()
    return jobs / deferred, jobs / ran


async def _ack_latency(settings: Settings, rate: float, seconds: float) -> list[float]:
    app = create_app(settings)
    key = base64.b64encode(SECRET.encode()).decode()
    latencies: list[float] = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            async def one(i: int) -> None:
                body = json.dumps(
                    {"type": "membership.activated", "data": {"id": f"mem_{i}", "metadata": {}}}
                )
                msg_id = f"msg_{uuid.uuid4().hex}"
                headers = {
                    "webhook-id": msg_id,
                    "webhook-timestamp": str(int(time.time())),
                    "webhook-signature": Webhook(key).sign(msg_id, datetime.now(UTC), body),
                    "content-type": "application/json",
                }
                t0 = time.perf_counter()
                response = await client.post("/api/webhooks/whop", content=body, headers=headers)
                latencies.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 202, response.text

            tasks = []
            total = int(rate * seconds)
            start = time.perf_counter()
            for i in range(total):
                await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
                tasks.append(asyncio.create_task(one(i)))
            await asyncio.gather(*tasks)
    return latencies


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend, url in _databases(Path(tmp)):
            migrate.upgrade(url)
            settings = _settings(url, Path(tmp))
            defer_rate, run_rate = await _throughput(settings, args.jobs)
            lat = await _ack_latency(settings, args.rate, args.seconds)
            rows.append(
                f"| {backend} | {args.jobs} | {defer_rate:,.0f} | {run_rate:,.0f} | "
                f"{len(lat)} at {args.rate:g}/s | {_pct(lat, 50):.1f} | {_pct(lat, 99):.1f} |"
            )
            print(rows[-1])
            if backend == "postgresql":
                name = url.rsplit("/", 1)[1]
                with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    body = (
        "Trivial jobs deferred one by one (each its own transaction), then run by one worker "
        "in-process; Whop webhook deliveries signed and posted in-process (ASGI) at a steady "
        "rate, ack = verify + store + defer. Targets: ≥ 10 jobs/s per worker, ack p99 ≤ 100 ms "
        "at 20 req/s (W3). A trivial job costs four short transactions (claim, two progress "
        "reports, finish); on SQLite each opens its own connection (kit.db uses NullPool).\n\n"
        "| backend | jobs | defer jobs/s | run jobs/s | webhooks | ack p50 ms | ack p99 ms |\n"
        "|---|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n\nCommand: `.venv/bin/python bench/jobs.py`"
    )
    if not args.no_write:
        append_section("Jobs and webhooks", body)


if __name__ == "__main__":
    asyncio.run(main())
