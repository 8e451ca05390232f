"""A trend's phase from the shape of its usage over consecutive windows (pure functions).

The input is a series of counts per window-long bucket, oldest first, the last bucket being
the current window (videos *created* in it, so growth follows the platform's clock, not
ours). The earlier engine decided phase from one growth number with hard view thresholds and
let nothing decay (ENGINE_SPEC §3, §8.6); here the whole series is read:

* **declining** — nothing in the current bucket any more, or it sits well below the
  series' peak and is still falling, has not recovered, or lingers below half of it
  (checked first: a fading trend is never "rising" because of one noisy bucket);
* **emerging** — the key is new (nothing before the last two buckets), or it grows on a
  base too small to call established;
* **rising** — sustained growth (≥ ``GROWTH_STEP``) on an established base;
* **saturated** — a long plateau: the last ``PLATEAU_BUCKETS`` buckets all sit within
  ``PLATEAU_BAND`` of the current one, at no less than half the peak (used a lot, for a
  long time, not growing);
* **peaking** — at or near its high after growing, but flat for less than a plateau.
"""

from __future__ import annotations

from collections.abc import Sequence

from virtuna.engine.types import TrendPhase

GROWTH_STEP = 0.25  # relative growth between the last two buckets that counts as growing
DECLINE_FROM_PEAK = 0.7  # below this share of the peak (and falling) is declining
PLATEAU_BAND = 0.25  # buckets within ±25 % of the current one are "flat"
PLATEAU_BUCKETS = 4  # of 6: flat for most of the series, not just past a peak
RESIDUAL = 0.5  # a plateau below half the peak is leftover usage of a faded trend
ESTABLISHED_BASE = 3  # fewer videos than this in the previous bucket is a small base


def growth(previous: float, current: float) -> float:
    """Relative change, bounded in [-1, +inf); a start from nothing counts as ``current``."""
    if previous <= 0:
        return float(current) if current > 0 else 0.0
    return (current - previous) / previous


def _plateau_length(series: Sequence[float]) -> int:
    current = series[-1]
    length = 0
    for value in reversed(series):
        if current <= 0 or abs(value - current) > PLATEAU_BAND * current:
            break
        length += 1
    return length


def classify_phase(series: Sequence[float]) -> TrendPhase | None:
    """The phase of a usage series (oldest first); None when there is no usage at all."""
    if not series or max(series) <= 0:
        return None
    current = series[-1]
    previous = series[-2] if len(series) > 1 else 0.0
    peak = max(series)
    change = growth(previous, current)
    plateau = _plateau_length(series)
    if current <= 0:
        return TrendPhase.DECLINING  # used before, not any more
    if current < DECLINE_FROM_PEAK * peak and (
        current < previous
        or current < RESIDUAL * peak
        or (change < GROWTH_STEP and plateau < PLATEAU_BUCKETS)
    ):
        return TrendPhase.DECLINING
    if sum(series[:-2]) <= 0:
        return TrendPhase.EMERGING
    if change >= GROWTH_STEP:
        return TrendPhase.EMERGING if previous < ESTABLISHED_BASE else TrendPhase.RISING
    if plateau >= PLATEAU_BUCKETS:
        return TrendPhase.SATURATED
    return TrendPhase.PEAKING
