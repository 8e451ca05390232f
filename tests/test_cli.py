"""The command line, run in-process on a fresh embedded database per test."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from itertools import islice
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
    monkeypatch.delenv("VIRTUNA_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_users_create_prints_key_last_and_json() -> None:
    result = runner.invoke(app, ["users", "create", "cli@example.com", "--plan", "pro"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("vt_")
    dup = runner.invoke(app, ["users", "create", "cli@example.com"])
    assert dup.exit_code == 1
    assert "already exists" in dup.output
    js = runner.invoke(app, ["users", "create", "two@example.com", "--json"])
    assert json.loads(js.stdout.strip().splitlines()[-1])["api_key"].startswith("vt_")


def test_analyze_text_offline_prints_a_report() -> None:
    result = runner.invoke(app, ["analyze", "Stop scrolling: 3 mistakes everyone makes? #cooking"])
    assert result.exit_code == 0, result.output
    assert "Score" in result.output
    assert "GEMINI_API_KEY" in result.output  # says how to enable the missing signals
    js = runner.invoke(app, ["analyze", "hello world #food", "--json"])
    body = json.loads(js.stdout)
    assert 0 <= body["overall_score"] <= 100
    assert body["confidence_label"] in {"LOW", "MEDIUM"}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["analyze"], "TEXT"),
        (["analyze", "--file", "/nonexistent.jsonl"], "--file"),
        (["analyze", "x", "--url", "https://evil.example/@a/video/1"], "tiktok_url"),
        (["ingest", "/nonexistent.json"], "no such file"),
    ],
)
def test_user_mistakes_are_one_line_exit_2(args: list[str], needle: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert "Traceback" not in result.output


def test_analyze_file_of_scraper_items_writes_every_line(
    tiktok_data_dir: Path, tmp_path: Path
) -> None:
    source = tiktok_data_dir / "vphuhan-vn-creators" / "videos.jsonl.gz"
    with gzip.open(source, "rt") as handle:
        lines = list(islice(handle, 30))
    drafts = tmp_path / "items.jsonl"
    drafts.write_text("".join(lines) + '{"input_mode": "text"}\n')
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["analyze", "--file", str(drafts), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 31
    assert [r["id"] for r in rows[:30]] == [json.loads(line)["id"] for line in lines]
    assert all(len(r["tier_probabilities"]) == 5 for r in rows[:30])
    assert all({"score", "tier", "confidence", "confidence_label"} <= set(r) for r in rows[:30])
    assert "content_text" in rows[30]["error"]


def test_analyze_with_an_unknown_creator_queues_its_profile_refresh() -> None:
    result = runner.invoke(app, ["analyze", "hello world #food", "--creator", "@new.face"])
    assert result.exit_code == 0, result.output
    assert "creators.refresh_not_queued" not in result.output
    status = runner.invoke(app, ["jobs", "status", "--json"])
    assert status.exit_code == 0, status.output
    runs = json.loads(status.stdout)
    assert [(r["job"], r["status"]) for r in runs] == [("refresh-competitors", "queued")]


def test_followers_option_lets_the_main_model_score_an_unknown_creator() -> None:
    alone = json.loads(runner.invoke(app, ["analyze", "pasta hack #cooking", "--json"]).stdout)
    assert alone["model_version"].endswith("+no-creator")
    args = ["analyze", "pasta hack #cooking", "--followers", "250000", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert not body["model_version"].endswith("+no-creator")
    assert body["signals"]["creator"]["available"]
    bad = runner.invoke(app, ["analyze", "pasta hack", "--followers", "-5"])
    assert bad.exit_code == 2
    assert "--followers" in bad.output
