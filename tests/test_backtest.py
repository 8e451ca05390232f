"""The backtest scores each video as of its create time: its own outcome (and any later
video's) cannot change its prediction, only the observed tier it is judged against."""

from __future__ import annotations

import asyncio
import gzip
import json
from datetime import timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

from virtuna.config import Settings
from virtuna.engine.pipeline import Engine
from virtuna.outcomes import backtest
from virtuna.predictions.engine_factory import load_predictor
from virtuna.training.records import record_from_item

OUTCOME_FIELDS = ("playCount", "diggCount", "shareCount", "commentCount", "collectCount")


def _write(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    return path


def _scores(path: Path, window: timedelta) -> tuple[list[backtest.Scored], float]:
    """Scores of the videos made in the file's last ``window`` (all old enough at scrape)."""
    settings = Settings(_env_file=None)
    bundle = load_predictor(settings)
    assert bundle is not None
    items, records = backtest.load([path])
    newest = max(r.draft.created_at for r in records)
    start = newest - window
    chosen = [i for i in backtest.select(records, horizon_days=7, later_fraction=1, limit=None)
              if records[i].draft.created_at >= start]  # fmt: skip
    rows = asyncio.run(
        backtest.score(Engine(predictor=bundle), items, records, chosen, lambda _: None)
    )
    return rows, start.timestamp()


def test_a_videos_own_and_later_outcomes_never_change_its_backtest_score(
    tiktok_data_dir: Path, tmp_path: Path
) -> None:
    with gzip.open(tiktok_data_dir / "vphuhan-vn-creators" / "videos.jsonl.gz", "rt") as fh:
        items = [json.loads(line) for line in islice(fh, 3000)]
    window = timedelta(days=6)  # shorter than the 7-day history gap
    before, start = _scores(_write(tmp_path / "a.jsonl", items), window)
    assert len(before) >= 10
    # Every video made in the window or later: counts changed beyond recognition.
    changed = []
    for item in items:
        item = dict(item)
        if record_from_item(item, "x").draft.created_at.timestamp() >= start:
            item.update({key: int(item.get(key) or 0) * 37 + 11 for key in OUTCOME_FIELDS})
        changed.append(item)
    after, _ = _scores(_write(tmp_path / "b.jsonl", changed), window)
    assert [r.id for r in after] == [r.id for r in before]
    assert [r.views for r in after] != [r.views for r in before]  # judged on new views...
    for old, new in zip(before, after, strict=True):  # ...but predicted exactly the same
        assert new.score == pytest.approx(old.score, abs=1e-9)
        assert new.probs == pytest.approx(old.probs, abs=1e-9)
