"""Fit the product score's blend weights on served scores, and report how scores rank.

The product's score is ``aggregate.blend``: a weighted mean of the available signals'
0-100 scores, rounded to 1 dp. ``fit_blend`` searches the weights of the signals measured
offline (``LOCAL_SIGNALS``) on a simplex grid (step ``GRID_STEP``) for the best
objective — the mean, over the sampling groups that were not selected on the outcome, of
Spearman(score, views) — then removes, one at a time, the signal whose removal costs the
least, while that cost (its measured lift, Δspearman) is at most ``MIN_LIFT``. A removed
signal gets weight 0 and its report says so. The same search without the ML signal gives
the fallback used when the ML stage fails.

Groups, not the pooled rows, make the objective: pooled Spearman rewards telling the
sources apart (their views differ by source), which a blend could learn without ranking
any creator's videos better.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from virtuna.engine.aggregate import Weights
from virtuna.engine.blend import LOCAL_SIGNALS, FittedBlend, SignalFit
from virtuna.training.metrics import spearman
from virtuna.training.scored import BoolArray, FloatArray, ScoredRows

GRID_STEP = 0.05
# A signal whose removal lowers the objective by at most this has no measured lift: the
# paired difference of two Spearman coefficients on ~7K rows moves by about this much
# between halves of the same window.
MIN_LIFT = 0.002
MIN_GROUP_ROWS = 50


def blended(signals: dict[str, FloatArray], weights: dict[str, float]) -> FloatArray:
    """``aggregate.blend`` for whole columns: renormalised over available signals, 1 dp."""
    n = len(next(iter(signals.values())))
    num, den = np.zeros(n), np.zeros(n)
    for name, w in weights.items():
        if w <= 0 or name not in signals:
            continue
        present = ~np.isnan(signals[name])
        num += np.where(present, signals[name] * w, 0.0)
        den += np.where(present, w, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(den > 0, np.clip(num / den, 0.0, 100.0), np.nan)
    return np.asarray(np.round(value, 1), dtype=np.float64)


def _groups(rows: ScoredRows) -> list[BoolArray]:
    fair = rows.eligible & ~np.char.endswith(rows.group.astype(str), ":feed")
    masks = [fair & (rows.group == g) for g in np.unique(rows.group[fair])]
    return [m for m in masks if m.sum() >= MIN_GROUP_ROWS]


def objective(score: FloatArray, rows: ScoredRows, groups: Sequence[BoolArray]) -> float:
    """Mean over groups of Spearman(score, views); rows without a score rank lowest."""
    filled = np.nan_to_num(score, nan=-1.0)
    values = [spearman(filled[m], rows.y[m]) for m in groups]
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _simplex(k: int) -> list[tuple[float, ...]]:
    steps = round(1 / GRID_STEP)
    return [tuple(c / steps for c in combo)
            for combo in itertools.product(range(steps + 1), repeat=k)
            if sum(combo) == steps]  # fmt: skip


def best_weights(rows: ScoredRows, names: Sequence[str], groups: Sequence[BoolArray]
                 ) -> tuple[dict[str, float], float]:  # fmt: skip
    """The grid point with the best objective (ties: the first, i.e. fewest-signal-heavy)."""
    best: tuple[dict[str, float], float] = ({}, -math.inf)
    for point in _simplex(len(names)):
        weights = dict(zip(names, point, strict=True))
        value = objective(blended(rows.signals, weights), rows, groups)
        if value > best[1] + 1e-12:
            best = (weights, value)
    return best


def _eliminate(rows: ScoredRows, names: Sequence[str], groups: Sequence[BoolArray]
               ) -> dict[str, SignalFit]:  # fmt: skip
    active = [n for n in names if not np.isnan(rows.signals[n]).all()]
    dropped = {n: SignalFit(0.0, 0.0) for n in names if n not in active}
    weights, value = best_weights(rows, active, groups)
    while active:
        if len(active) == 1:
            lifts = {active[0]: value}  # against no score at all (Spearman 0)
        else:
            lifts = {n: value - best_weights(rows, [a for a in active if a != n], groups)[1]
                     for n in active}  # fmt: skip
        weakest = min(lifts, key=lambda n: lifts[n])
        if lifts[weakest] > MIN_LIFT or len(active) == 1:
            break
        dropped[weakest] = SignalFit(0.0, lifts[weakest])
        active.remove(weakest)
        weights, value = best_weights(rows, active, groups)
    kept = {n: SignalFit(weights[n], lifts[n]) for n in active}
    # A kept signal the grid still gave 0 has no lift either.
    return kept | dropped


def fit_blend(rows: ScoredRows, *, model_version: str, description: str) -> FittedBlend:
    groups = _groups(rows)
    if not groups:
        raise ValueError(f"no sampling group has {MIN_GROUP_ROWS}+ eligible scored rows")
    fits = _eliminate(rows, LOCAL_SIGNALS, groups)
    # Used only when the ML signal is missing, so its own entry is never shown.
    fallback = {"ml": SignalFit(0.0, 0.0)} | _eliminate(
        rows, [n for n in LOCAL_SIGNALS if n != "ml"], groups
    )
    shares = {n: f.weight for n, f in fits.items()}
    evidence = {
        "fitted_on": description,
        "rows": int(sum(m.sum() for m in groups)),
        "groups": [str(rows.group[m][0]) for m in groups],
        "objective": "mean over sampling groups of Spearman(score, views)",
        "min_lift": MIN_LIFT,
        "grid_step": GRID_STEP,
        "objective_fitted": objective(blended(rows.signals, shares), rows, groups),
        "objective_ml_only": objective(blended(rows.signals, {"ml": 1.0}), rows, groups),
        "objective_base_weights": objective(
            blended(rows.signals, Weights().as_dict()), rows, groups
        ),
    }
    return FittedBlend(signals=fits, fallback=fallback, model_version=model_version,
                       evidence=evidence)  # fmt: skip


def populations(rows: ScoredRows) -> list[tuple[str, BoolArray]]:
    base = rows.eligible
    feed = np.char.endswith(rows.group.astype(str), ":feed")
    pops = [("pooled", base)]
    if (base & feed).any():
        pops.append(("pooled (unbiased)", base & ~feed))
    pops += [(str(s), base & (rows.source == s)) for s in np.unique(rows.source)]
    pops += [(str(g), base & (rows.group == g)) for g in np.unique(rows.group) if ":" in str(g)]
    return [(name, m) for name, m in pops if m.sum() >= 3]


def score_report(rows: ScoredRows, extra: dict[str, FloatArray] | None = None
                 ) -> list[dict[str, Any]]:  # fmt: skip
    """Spearman with views per population: the served score beside each single signal."""
    columns: dict[str, FloatArray] = {
        "final score (served)": rows.final,
        "model alone (ml signal)": rows.signals["ml"],
        "followers alone": rows.log_followers,
        "creator signal alone": rows.signals["creator"],
        "base weights blend": blended(rows.signals, Weights().as_dict()),
        **(extra or {}),
    }
    out = []
    for name, mask in populations(rows):
        entry: dict[str, Any] = {"population": name, "n": int(mask.sum())}
        for label, values in columns.items():
            # Rows a column cannot score rank lowest, as a missing score would in a ranking.
            entry[label] = spearman(np.nan_to_num(values[mask], nan=-1.0), rows.y[mask])
        out.append(entry)
    return out


def render_report(report: list[dict[str, Any]]) -> str:
    if not report:
        return "(no rows)"
    labels = [k for k in report[0] if k not in ("population", "n")]
    lines = ["| population | n | " + " | ".join(labels) + " |",
             "|---|---|" + "---|" * len(labels)]  # fmt: skip
    for entry in report:
        cells = [f"{entry[k]:.3f}" if math.isfinite(entry[k]) else "–" for k in labels]
        lines.append(f"| {entry['population']} | {entry['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_fit(blend: FittedBlend) -> str:
    lines = ["| signal | fitted share | Δspearman | note |", "|---|---|---|---|"]
    for name in LOCAL_SIGNALS:
        fit = blend.signals[name]
        lines.append(f"| {name} | {fit.weight:.2f} | {fit.delta_spearman:+.4f} | {fit.note()} |")
    ev = blend.evidence
    lines += ["", f"objective ({ev['objective']}) on {ev['rows']} rows: fitted "
              f"{ev['objective_fitted']:.4f}, model alone {ev['objective_ml_only']:.4f}, "
              f"base weights {ev['objective_base_weights']:.4f}"]  # fmt: skip
    fallback = ", ".join(f"{n} {f.weight:.2f}" for n, f in blend.fallback.items())
    lines.append(f"fallback without the ML signal: {fallback}")
    return "\n".join(lines)
