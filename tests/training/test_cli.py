from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from virtuna.cli.app import app as main_app
from virtuna.config import get_settings
from virtuna.engine.bundle import ModelBundle
from virtuna.training.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def small_file(tiktok_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 600 real items of each source as one JSON Lines file."""
    out = tmp_path_factory.mktemp("cli") / "items.jsonl"
    lines = []
    for path in sorted(tiktok_data_dir.glob("*/videos.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            lines += [next(fh) for _ in range(600)]
    out.write_text("".join(lines), encoding="utf-8")
    return out


def test_train_writes_a_loadable_bundle(small_file: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--data", str(small_file), "--out",
                                 str(tmp_path / "b"), "--seed", "3"])  # fmt: skip
    assert result.exit_code == 0, result.output
    bundle = ModelBundle.load(tmp_path / "b")
    assert bundle.version.endswith("-s3")
    assert len(bundle.meta.data_sha256) == 64


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "nope.jsonl: no such file" in result.output
    assert "Traceback" not in result.output


def test_bad_format_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "createTime": 1, "playCount": 3}\nnot json\n')
    result = runner.invoke(app, ["evaluate", str(bad)])
    assert result.exit_code == 1
    assert "bad.jsonl: line 2" in result.output


@pytest.fixture
def local_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Commands that read settings get their own SQLite database in ``tmp_path``."""
    monkeypatch.setenv("VIRTUNA_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("VIRTUNA_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "var"
    get_settings.cache_clear()


@pytest.mark.usefixtures("local_db")
def test_from_db_trains_on_ingested_videos(small_file: Path, tmp_path: Path) -> None:
    empty = runner.invoke(app, ["train", "--from-db"])
    assert empty.exit_code == 1
    assert "holds no scraped videos" in empty.output
    ingested = runner.invoke(main_app, ["ingest", str(small_file), "--json"])
    assert ingested.exit_code == 0, ingested.output
    result = runner.invoke(app, ["train", "--from-db", "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert "read 1,800 videos from the database" in result.output
    bundle = ModelBundle.load(tmp_path / "b")
    assert bundle.meta.metrics["train_rows"] > 100
    both = runner.invoke(app, ["train", "--from-db", "--data", str(small_file)])
    assert both.exit_code == 2


def test_no_data_option_is_a_usage_error() -> None:
    assert runner.invoke(app, ["train"]).exit_code == 2


def test_evaluate_json_and_plots(small_file: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", str(small_file), "--json", "--plot",
                                 str(tmp_path / "plots")])  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert "time" in payload
    assert "creator" in payload
    assert "followers only" in payload["time"]["models"]
    for name in ("reliability.png", "confusion.png"):
        assert (tmp_path / "plots" / name).read_bytes().startswith(b"\x89PNG")
