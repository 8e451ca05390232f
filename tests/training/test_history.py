from __future__ import annotations

import math
import random
from dataclasses import replace

import numpy as np

from virtuna.training.dataset import build_dataset
from virtuna.training.history import (
    HISTORY_GAP,
    creator_contexts,
    naive_creator_context,
    naive_trend_snapshot,
    trend_snapshots,
)
from virtuna.training.records import Outcome, VideoRecord


def test_incremental_creator_history_equals_naive(sample_records: list[VideoRecord]) -> None:
    fast = creator_contexts(sample_records)
    rows = random.Random(7).sample(range(len(sample_records)), 300)
    for i in rows:
        assert fast[i] == naive_creator_context(sample_records, i), i
    assert sum(fast[i].prior_video_count > 0 for i in rows) > 100  # the sample has history


def test_incremental_trends_equal_naive(sample_records: list[VideoRecord]) -> None:
    fast = trend_snapshots(sample_records)
    rows = random.Random(11).sample(range(len(sample_records)), 150)
    for i in rows:
        assert fast[i] == naive_trend_snapshot(sample_records, i), i
    assert sum(bool(fast[i].hashtags) for i in rows) > 20


def test_history_uses_only_videos_older_than_the_gap(sample_records: list[VideoRecord]) -> None:
    contexts = creator_contexts(sample_records)
    by_author: dict[str, list[VideoRecord]] = {}
    for rec in sample_records:
        by_author.setdefault(rec.draft.author, []).append(rec)
    for rec, ctx in zip(sample_records[:2000], contexts[:2000], strict=True):
        cutoff = rec.draft.created_at - HISTORY_GAP
        older = [r for r in by_author[rec.draft.author] if r.draft.created_at < cutoff]
        assert ctx.prior_video_count == len(older)


def test_own_and_recent_outcomes_cannot_change_features(
    sample_records: list[VideoRecord],
) -> None:
    """Inflating a video's views changes nobody's features within the gap, itself included."""
    base = build_dataset(sample_records)
    target = max(range(len(sample_records)), key=lambda i: sample_records[i].draft.created_at)
    rec = sample_records[target]
    bumped = list(sample_records)
    bumped[target] = replace(rec, outcome=Outcome(views=rec.outcome.views * 1000 + 7,
                                                  scraped_at=rec.outcome.scraped_at))  # fmt: skip
    after = build_dataset(bumped)
    cutoff = rec.draft.created_at + HISTORY_GAP
    same = [i for i, r in enumerate(sample_records) if r.draft.created_at <= cutoff]
    assert len(same) > 1000
    np.testing.assert_array_equal(base.X[same], after.X[same])  # NaN == NaN here
    assert after.y[target] != base.y[target]


def test_no_history_is_nan_not_zero(sample_records: list[VideoRecord]) -> None:
    first = min(sample_records, key=lambda r: r.draft.created_at)
    ctx = naive_creator_context(sample_records, sample_records.index(first))
    assert ctx.prior_video_count == 0
    assert ctx.median_views is None
    assert ctx.posts_per_week is None
    alone = build_dataset([first])
    assert math.isnan(alone.column("log_median_views")[0])
