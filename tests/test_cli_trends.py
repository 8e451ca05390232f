"""`virtuna trends calculate | show` on a fresh embedded database."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from virtuna.cli.app import app
from virtuna.config import get_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("VIRTUNA_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("TRENDS_WINDOWS_DAYS", "30")
    monkeypatch.delenv("VIRTUNA_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_trends_show_before_and_after_a_calculation(tiktok_data_dir: Path, tmp_path: Path) -> None:
    empty = runner.invoke(app, ["trends", "show"])
    assert empty.exit_code == 1
    assert "no trends computed yet" in empty.output
    with gzip.open(tiktok_data_dir / "thienphucle-vn-feed" / "videos.jsonl.gz", "rt") as src:
        lines = src.readlines()[-1500:]  # the newest videos
    sample = tmp_path / "sample.jsonl"
    sample.write_text("".join(lines))
    assert runner.invoke(app, ["ingest", str(sample), "--json"]).exit_code == 0
    calc = runner.invoke(app, ["trends", "calculate", "--json"])
    assert calc.exit_code == 0, calc.output
    assert json.loads(calc.stdout)["created"] is True
    again = runner.invoke(app, ["trends", "calculate"])
    assert "unchanged" in again.output
    table = runner.invoke(app, ["trends", "show", "--limit", "5"])
    assert table.exit_code == 0, table.output
    assert "Trending hashtags — 30-day window" in table.output
    sounds = runner.invoke(app, ["trends", "show", "--kind", "sounds", "--json", "--limit", "3"])
    body = json.loads(sounds.stdout)
    assert len(body["items"]) == 3
    assert body["window_days"] == 30
    phase = body["items"][0]["phase"]
    filtered = runner.invoke(app, ["trends", "show", "--phase", phase, "--json"])
    assert {i["phase"] for i in json.loads(filtered.stdout)["items"]} == {phase}
    bad = runner.invoke(app, ["trends", "show", "--phase", "hot"])
    assert bad.exit_code == 2
