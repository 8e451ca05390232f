"""Phase classification on constructed usage series (oldest bucket first)."""

from __future__ import annotations

import pytest

from virtuna.engine.types import TrendPhase
from virtuna.trends.lifecycle import classify_phase, growth

E, R, P, S, D = (
    TrendPhase.EMERGING,
    TrendPhase.RISING,
    TrendPhase.PEAKING,
    TrendPhase.SATURATED,
    TrendPhase.DECLINING,
)


@pytest.mark.parametrize(
    ("series", "phase"),
    [
        ([0, 0, 0, 0, 0, 3], E),  # brand new
        ([0, 0, 0, 0, 2, 9], E),  # new in the last two buckets
        ([0, 1, 0, 1, 1, 2], E),  # growing on a tiny base
        ([2, 4, 8, 16, 30, 55], R),  # sustained growth on an established base
        ([10, 10, 12, 11, 10, 20], R),  # a jump after a flat stretch
        ([1, 4, 12, 30, 48, 50], P),  # growth stalled at the top
        ([2, 5, 12, 40, 38, 36], P),  # just past the top, still near it
        ([40, 42, 39, 41, 40, 40], S),  # long plateau
        ([30, 60, 40, 40, 40, 40], S),  # dropped once, then a long plateau
        ([5, 20, 60, 40, 20, 8], D),  # falling away from its peak
        ([10, 30, 20, 5, 5, 6], D),  # far below the peak, no recovery
        ([3, 6, 9, 4, 0, 0], D),  # gone
        ([0, 0, 0, 5, 3, 0], D),
    ],
)
def test_phase_follows_the_shape_of_usage(series: list[int], phase: TrendPhase) -> None:
    assert classify_phase(series) is phase


def test_no_usage_has_no_phase() -> None:
    assert classify_phase([]) is None
    assert classify_phase([0, 0, 0]) is None


def test_single_bucket_is_emerging() -> None:
    assert classify_phase([4]) is E


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [(10, 20, 1.0), (20, 10, -0.5), (10, 0, -1.0), (0, 5, 5.0), (0, 0, 0.0)],
)
def test_growth_is_relative_and_bounded_below(
    previous: float, current: float, expected: float
) -> None:
    assert growth(previous, current) == pytest.approx(expected)
    assert growth(previous, current) >= -1.0
