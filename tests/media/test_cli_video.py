"""`virtuna analyze --video FILE`: the upload's path offline (sniff, PyAV probe, caps)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.media.videos import make_video
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


def test_analyze_video_offline(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", tone_amplitude=None)
    result = runner.invoke(app, ["analyze", "Wait for it #cooking", "--video", str(clip), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["input_mode"] == "video_upload"
    assert body["feature_vector"]["rule.hook_cut_first_3s"] == 1.0
    assert body["feature_vector"]["rule.has_audio"] == 0.0
    assert any(s["text"].startswith("Add sound") for s in body["suggestions"])
    assert clip.exists()  # the user's own file is never deleted


def test_analyze_video_refuses_text_and_overlong_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video, just notes " * 10)
    refused = runner.invoke(app, ["analyze", "--video", str(notes)])
    assert refused.exit_code == 2
    assert "not an MP4, MOV, WebM or Matroska video" in refused.output
    monkeypatch.setenv("VIRTUNA_MAX_VIDEO_SECONDS", "1")
    get_settings.cache_clear()
    clip = make_video(tmp_path / "clip.mp4", seconds=2.0, tone_amplitude=None)
    too_long = runner.invoke(app, ["analyze", "--video", str(clip)])
    assert too_long.exit_code == 2
    assert "limit is 1 s" in too_long.output
