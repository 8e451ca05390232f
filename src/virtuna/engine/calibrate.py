"""Calibration metrics for tier probabilities (ECE, Brier, NLL, bootstrap intervals).

Pure numpy: plain arrays in, plain values out, so the serving path, the audit job and the
offline backtest compute the same numbers.

Conventions
-----------
- ``probs`` is an (n, 5) array of tier probabilities (tier 1 first); ``tiers`` holds the
  observed tier 1-5 of each row. The observed tier of a video is the model bundle's tier
  cut-offs (log1p views) applied to its views at the horizon (:func:`observed_tiers`).
- ECE uses equal-width bins over [0, 1]; a confidence of exactly 1.0 falls in the last bin.
  "Top label": confidence = max probability, correct = argmax is the observed tier.
  "Tier 5": the binary question "will it reach tier 5?", p = P(tier 5).
- Every metric comes with its row count and a bootstrap interval: an ECE from 40 rows is
  reported as the wide interval it is.

The calibrators and the activation gate are in ``virtuna.engine.calibrators``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
N_TIERS = 5
PROB_FLOOR = 1e-6  # no tier is ever impossible (the bundle's own floor)
ECE_BINS = (10, 15)
GATE_ECE_BINS = 15


# -- inputs ----------------------------------------------------------------------------


def observed_tiers(views: Sequence[float] | FloatArray, cutoffs: Sequence[float]) -> IntArray:
    """Tier 1-5 of each view count given the bundle's four log1p(views) cut-offs."""
    y = np.log1p(np.asarray(views, dtype=np.float64))
    edges = np.asarray(cutoffs, dtype=np.float64)
    return (np.searchsorted(edges, y, side="right") + 1).astype(np.int64)


def as_probs(rows: Sequence[Sequence[float]] | FloatArray) -> FloatArray:
    """Validated (n, 5) probabilities, floored and renormalised."""
    probs = np.asarray(rows, dtype=np.float64).reshape(-1, N_TIERS)
    if not np.isfinite(probs).all() or (probs < 0).any():
        raise ValueError("tier probabilities must be finite and non-negative")
    probs = np.clip(probs, PROB_FLOOR, None)
    return np.asarray(probs / probs.sum(axis=1, keepdims=True), dtype=np.float64)


def as_tiers(tiers: Sequence[int] | IntArray) -> IntArray:
    out = np.asarray(tiers, dtype=np.int64)
    if out.size and (out.min() < 1 or out.max() > N_TIERS):
        raise ValueError("observed tiers must be 1-5")
    return out


# -- metrics ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    lower: float
    upper: float
    count: int
    mean_confidence: float
    observed_rate: float  # accuracy (top label) or event frequency (binary)

    @property
    def gap(self) -> float:
        return abs(self.mean_confidence - self.observed_rate)


def _bin_index(confidence: FloatArray, bins: int) -> IntArray:
    edges = np.linspace(0.0, 1.0, bins + 1)
    return np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1).astype(np.int64)


def reliability_bins(
    confidence: FloatArray, outcome: FloatArray, bins: int
) -> list[ReliabilityBin]:
    """Every non-empty equal-width bin: mean predicted value vs observed rate."""
    idx = _bin_index(confidence, bins)
    out = []
    for b in range(bins):
        m = idx == b
        if m.any():
            out.append(
                ReliabilityBin(
                    lower=b / bins,
                    upper=(b + 1) / bins,
                    count=int(m.sum()),
                    mean_confidence=float(confidence[m].mean()),
                    observed_rate=float(outcome[m].mean()),
                )
            )
    return out


def ece(confidence: FloatArray, outcome: FloatArray, bins: int) -> float:
    """Σ (n_bin / n) × |mean confidence − observed rate|; 0.0 for no rows."""
    n = len(confidence)
    if n == 0:
        return 0.0
    return float(sum(b.count / n * b.gap for b in reliability_bins(confidence, outcome, bins)))


def top_label(probs: FloatArray, tiers: IntArray) -> tuple[FloatArray, FloatArray]:
    """(confidence of the predicted tier, 1.0 where it was the observed tier)."""
    correct = ((probs.argmax(axis=1) + 1) == tiers).astype(np.float64)
    return probs.max(axis=1), correct


def top_label_ece(probs: FloatArray, tiers: IntArray, bins: int = GATE_ECE_BINS) -> float:
    return ece(*top_label(probs, tiers), bins)


def tier5_ece(probs: FloatArray, tiers: IntArray, bins: int = GATE_ECE_BINS) -> float:
    return ece(probs[:, N_TIERS - 1], (tiers == N_TIERS).astype(np.float64), bins)


def nll(probs: FloatArray, tiers: IntArray) -> float:
    """Mean negative log-likelihood of the observed tier (natural log)."""
    if len(tiers) == 0:
        return 0.0
    p_true = probs[np.arange(len(tiers)), tiers - 1]
    return float(-np.mean(np.log(np.clip(p_true, 1e-12, None))))


def brier(probs: FloatArray, tiers: IntArray) -> float:
    """Multi-class Brier score: mean over rows of Σ_k (p_k − 1[tier = k])², range 0-2."""
    if len(tiers) == 0:
        return 0.0
    onehot = np.eye(N_TIERS)[tiers - 1]
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


def tier5_brier(probs: FloatArray, tiers: IntArray) -> float:
    if len(tiers) == 0:
        return 0.0
    return float(np.mean((probs[:, N_TIERS - 1] - (tiers == N_TIERS)) ** 2))


Metric = Callable[[FloatArray, IntArray], float]
METRICS: dict[str, Metric] = {
    "ece_top_10": lambda p, t: top_label_ece(p, t, 10),
    "ece_top_15": lambda p, t: top_label_ece(p, t, 15),
    "ece_tier5_10": lambda p, t: tier5_ece(p, t, 10),
    "ece_tier5_15": lambda p, t: tier5_ece(p, t, 15),
    "brier": brier,
    "brier_tier5": tier5_brier,
    "nll": nll,
}


def bootstrap_ci(
    metric: Metric,
    probs: FloatArray,
    tiers: IntArray,
    *,
    reps: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ``metric`` (rows resampled with replacement)."""
    n = len(tiers)
    if n < 2 or reps < 1:
        return None
    rng = np.random.default_rng(seed)
    values = np.empty(reps)
    for r in range(reps):
        idx = rng.integers(0, n, n)
        values[r] = metric(probs[idx], tiers[idx])
    tail = (1.0 - level) / 2.0
    return float(np.quantile(values, tail)), float(np.quantile(values, 1.0 - tail))


def metrics_report(
    probs: FloatArray, tiers: IntArray, *, reps: int = 200, seed: int = 0
) -> dict[str, Any]:
    """Every metric with its bootstrap interval, row count and reliability-diagram bins."""
    p, t = as_probs(probs), as_tiers(tiers)
    report: dict[str, Any] = {"n": len(t), "metrics": {}}
    for name, fn in METRICS.items():
        ci = bootstrap_ci(fn, p, t, reps=reps, seed=seed)
        report["metrics"][name] = {
            "value": fn(p, t),
            "ci95": None if ci is None else list(ci),
        }
    report["accuracy"] = float(top_label(p, t)[1].mean()) if len(t) else None
    report["observed_tier_share"] = [float((t == k).mean()) if len(t) else 0.0 for k in range(1, 6)]
    report["reliability"] = {
        "top_label_15": [_bin_json(b) for b in reliability_bins(*top_label(p, t), 15)],
        "tier5_10": [
            _bin_json(b)
            for b in reliability_bins(p[:, N_TIERS - 1], (t == N_TIERS).astype(np.float64), 10)
        ],
    }
    return report


def _bin_json(b: ReliabilityBin) -> dict[str, float | int]:
    return {
        "lower": b.lower,
        "upper": b.upper,
        "count": b.count,
        "mean_confidence": b.mean_confidence,
        "observed_rate": b.observed_rate,
        "gap": b.gap,
    }
