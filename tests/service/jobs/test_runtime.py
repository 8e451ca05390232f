"""The composition root and the CLI around the job runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.service.jobs.test_worker_processes import ROOT
from virtuna.config import Settings
from virtuna.jobs.schedule import due_slots
from virtuna.worker.runtime import embedded_worker_enabled, load_tasks


def test_load_tasks_skips_missing_modules_but_not_broken_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = load_tasks(("virtuna.no_such_domain.tasks", "virtuna.billing.tasks"))
    assert {"process-whop-event", "sync-whop"} <= set(names)

    def bad_import(name: str) -> None:
        raise ModuleNotFoundError("No module named 'missing_dependency'", name="missing_dependency")

    monkeypatch.setattr("importlib.import_module", bad_import)
    with pytest.raises(ModuleNotFoundError):
        load_tasks(("virtuna.trends.tasks",))


def test_embedded_worker_defaults() -> None:
    local = Settings.model_validate({"_env_file": None})
    assert embedded_worker_enabled(local)
    test_env = Settings.model_validate({"VIRTUNA_ENV": "test", "_env_file": None})
    assert not embedded_worker_enabled(test_env)
    pg = Settings.model_validate(
        {"VIRTUNA_DATABASE_URL": "postgresql://x@127.0.0.1/db", "_env_file": None}
    )
    assert not embedded_worker_enabled(pg)
    forced = Settings.model_validate({"VIRTUNA_EMBEDDED_WORKER": "true", "VIRTUNA_ENV": "test"})
    assert embedded_worker_enabled(forced)


def test_due_slots_catch_up_only_the_latest_recent_slot() -> None:
    from datetime import UTC, datetime

    now = datetime(2030, 1, 1, 12, 7, tzinfo=UTC)
    assert due_slots("0 * * * *", since=None, now=now, catchup_seconds=600) == [
        datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    ]
    assert due_slots("0 * * * *", since=None, now=now, catchup_seconds=60) == []
    since = datetime(2030, 1, 1, 9, 30, tzinfo=UTC)
    assert [s.hour for s in due_slots("0 * * * *", since=since, now=now, catchup_seconds=0)] == [
        10,
        11,
        12,
    ]


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "VIRTUNA_DATA_DIR": str(tmp_path),
        "VIRTUNA_DATABASE_URL": "",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "-m", "virtuna", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_run_wait_status_and_conflict(tmp_path: Path) -> None:
    done = _cli(tmp_path, "jobs", "run", "process-whop-event", "--wait", "--json")
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert (run["status"], run["trigger"], run["result"]) == (
        "succeeded",
        "cli",
        {"events": 0, "outcomes": {}},
    )

    queued = _cli(tmp_path, "jobs", "run", "process-whop-event", "--json")
    assert json.loads(queued.stdout)["status"] == "queued"
    again = _cli(tmp_path, "jobs", "run", "process-whop-event")
    assert again.returncode == 1
    assert "already queued" in again.stderr
    assert "Traceback" not in again.stderr

    status = _cli(tmp_path, "jobs", "status", "--json")
    assert [r["id"] for r in json.loads(status.stdout)][1] == run["id"]
