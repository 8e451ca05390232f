"""``virtuna calibration``: the backtest on real items and the report on an empty ledger."""

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
    monkeypatch.delenv("VIRTUNA_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def items_file(tiktok_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,500 real items of one source (timelines: enough history for the 7-day gap)."""
    out = tmp_path_factory.mktemp("bt") / "vphuhan-sample.jsonl"
    with gzip.open(tiktok_data_dir / "vphuhan-vn-creators" / "videos.jsonl.gz", "rt") as fh:
        out.write_text("".join(next(fh) for _ in range(1500)), encoding="utf-8")
    return out


def test_backtest_reports_counts_intervals_and_a_diagram(items_file: Path, tmp_path: Path) -> None:
    png = tmp_path / "rel.png"
    result = runner.invoke(app, ["calibration", "backtest", str(items_file), "--json",
                                 "--later-fraction", "1", "--limit", "300",
                                 "--plot", str(png)])  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout.strip().splitlines()[-1])
    pooled = body["populations"]["pooled"]
    assert body["rows"] == pooled["n"] == 300
    lo, hi = pooled["metrics"]["ece_top_15"]["ci95"]
    assert lo <= pooled["metrics"]["ece_top_15"]["value"] <= hi
    assert 0 < pooled["metrics"]["nll"]["value"] < 5
    assert sum(pooled["observed_tier_share"]) == pytest.approx(1.0)
    assert pooled["spearman"] is not None
    assert pooled["spearman"] > 0.2
    assert "input_mode:text" in body["populations"]
    assert png.read_bytes().startswith(b"\x89PNG")


def test_backtest_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["calibration", "backtest", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "no such file" in result.output
    assert "Traceback" not in result.output


def test_report_on_an_empty_ledger() -> None:
    result = runner.invoke(app, ["calibration", "report", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout.strip().splitlines()[-1])
    assert body["joined_rows"] == 0
    assert body["pooled"]["metrics"]["ece_top_15"]["ci95"] is None  # no rows, no interval
    text = runner.invoke(app, ["calibration", "report"])
    assert text.exit_code == 0, text.output
    assert "joined rows 0" in text.output
