from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from tests.engine.builders import NOW
from virtuna.engine.creator import (
    DEFAULT_QUANTILES,
    MISSING_WARNING,
    creator_signal,
    fit_reference_quantiles,
    position,
)
from virtuna.engine.types import CreatorContext


def test_default_quantiles_are_the_ones_measured_on_the_shared_data(
    real_records: list[tuple[str, dict[str, Any]]],
) -> None:
    views: dict[tuple[str, str], list[float]] = defaultdict(list)
    followers: dict[tuple[str, str], int] = {}
    for source, record in real_records:
        key = (source, record["authorMeta"]["name"])
        views[key].append(float(record["playCount"]))
        fans = record["authorMeta"].get("fans")
        if fans is not None:
            followers[key] = max(followers.get(key, 0), int(fans))
    fitted = fit_reference_quantiles((views[k], followers.get(k)) for k in views)
    assert fitted.median_views_log10 == pytest.approx(
        DEFAULT_QUANTILES.median_views_log10, abs=0.01
    )
    assert fitted.followers_log10 == pytest.approx(DEFAULT_QUANTILES.followers_log10, abs=0.01)


def test_position_is_monotone_and_bounded() -> None:
    knots = DEFAULT_QUANTILES.followers_log10
    values = [position(x / 10, knots) for x in range(0, 100)]
    assert values == sorted(values)
    assert values[0] == 0.0
    assert values[-1] == 100.0
    assert position(knots[2], knots) == pytest.approx(50.0)


def test_missing_creator_is_unavailable_with_a_warning_not_invented() -> None:
    for context in (None, CreatorContext(as_of=NOW, handle="someone")):
        signal = creator_signal(context)
        assert not signal.available
        assert signal.score is None
        assert signal.warnings == (MISSING_WARNING,)
    assert "creator_handle" in MISSING_WARNING


def test_history_outweighs_followers() -> None:
    big_history = CreatorContext(
        as_of=NOW, followers=1_000, prior_video_count=20, median_views=5_000_000
    )
    big_following = CreatorContext(
        as_of=NOW, followers=5_000_000, prior_video_count=20, median_views=1_000
    )
    high, low = creator_signal(big_history), creator_signal(big_following)
    assert high.score is not None
    assert low.score is not None
    assert high.score > low.score


def test_followers_alone_give_a_signal_and_more_is_higher() -> None:
    small = creator_signal(CreatorContext(as_of=NOW, followers=500))
    large = creator_signal(CreatorContext(as_of=NOW, followers=2_000_000))
    assert small.available
    assert small.score is not None
    assert large.score is not None
    assert small.score < large.score
    assert small.views_percentile is None


def test_context_text_reports_what_is_known() -> None:
    context = CreatorContext(
        as_of=NOW,
        handle="chef.an",
        followers=32_900,
        prior_video_count=12,
        median_views=120_000,
        posts_per_week=3.5,
        verified=True,
    )
    text = creator_signal(context).context_text
    assert "@chef.an has 32,900 followers" in text
    assert "Median views of 12 earlier videos: 120,000" in text
    assert "3.5 videos per week" in text
    assert "verified" in text


def test_recent_median_is_blended_in() -> None:
    base = CreatorContext(as_of=NOW, prior_video_count=10, median_views=10_000)
    recent = CreatorContext(
        as_of=NOW, prior_video_count=10, median_views=10_000, recent_median_views=1_000_000
    )
    a, b = creator_signal(base).score, creator_signal(recent).score
    assert a is not None
    assert b is not None
    assert b > a
