"""``virtuna calibration``: the backtest on real items and the report on an empty ledger."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from virtuna.cli.app import app
from virtuna.config import Settings, get_settings
from virtuna.kit import migrate
from virtuna.kit.db import create_engine, create_session_factory, unit_of_work
from virtuna.models import Analysis, Outcome
from virtuna.predictions.engine_factory import load_predictor
from virtuna.users import service as users

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
    # Kept apart from the production ledger: the backtest never opens the database.
    assert not list((tmp_path / "var").rglob("*.db*"))


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


def test_report_prints_the_ledger_and_draws_its_diagram(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    url = f"sqlite+aiosqlite:///{db}"
    asyncio.run(_ledger(url, n=30))
    png = tmp_path / "report.png"
    env = {"VIRTUNA_DATABASE_URL": url}
    result = runner.invoke(app, ["calibration", "report", "--json", "--plot", str(png)], env=env)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout.strip().splitlines()[-1])
    assert body["joined_rows"] == 30
    assert sum(b["count"] for b in body["pooled"]["reliability"]["top_label_15"]) == 30
    assert png.read_bytes().startswith(b"\x89PNG")
    text = runner.invoke(app, ["calibration", "report"], env=env)
    assert text.exit_code == 0, text.output
    assert "joined rows 30" in text.output


async def _ledger(url: str, *, n: int) -> None:
    """``n`` served predictions of the shipped bundle, each with views 8 days after posting."""
    migrate.upgrade(url)
    settings = Settings(VIRTUNA_DATABASE_URL=url, _env_file=None)
    bundle = load_predictor(settings)
    assert bundle is not None
    engine = create_engine(settings)
    posted = datetime.now(UTC) - timedelta(days=10)
    async with unit_of_work(create_session_factory(engine)) as session:
        user = (await users.create_user(session, email="ledger@example.com")).user
        for index in range(n):
            probs = [0.6, 0.1, 0.1, 0.1, 0.1][index % 5 :] + [0.6, 0.1, 0.1, 0.1, 0.1][: index % 5]
            analysis = Analysis(
                user_id=user.id, input_mode="text", content_type="video", content_text="x",
                overall_score=50.0, raw_score=50.0, tier=3, confidence=0.5,
                confidence_label="MEDIUM", tier_probabilities=probs,
                raw_tier_probabilities=probs, engine_version="test-engine",
                model_version=bundle.version, latency_ms=1, result={}, feature_vector={},
                created_at=posted, scheduled_for=posted,
            )  # fmt: skip
            session.add(analysis)
            await session.flush()
            session.add(Outcome(
                analysis_id=analysis.id, user_id=user.id, source="user",
                observed_at=posted + timedelta(days=8), views=10 ** (3 + index % 5),
            ))  # fmt: skip
    await engine.dispose()
