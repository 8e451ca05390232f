"""Calibrators for tier probabilities and the gate that decides whether one is activated.

Calibrators follow the scikit-learn contract (parameters in ``__init__``, learned state in
``trailing_underscore_`` attributes set by ``fit``, a pure ``transform``) and round-trip
through ``to_params`` / :func:`calibrator_from_params` so their state can live in database
rows, never in process memory or files. The earlier system's Platt fit ascended its own loss
(gradient sign) and was fitted on user-typed scores; here every fit minimises the negative
log-likelihood of observed tiers, and :func:`fit_with_gate` refuses any calibrator that does
not improve both NLL and ECE on held-out later rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from virtuna.engine.calibrate import (
    GATE_ECE_BINS,
    N_TIERS,
    FloatArray,
    IntArray,
    as_probs,
    as_tiers,
    nll,
    top_label_ece,
)


class Calibrator(Protocol):
    kind: str

    def fit(self, probs: FloatArray, tiers: IntArray) -> Calibrator: ...

    def transform(self, probs: FloatArray) -> FloatArray: ...

    def to_params(self) -> dict[str, Any]: ...


def _softmax(logits: FloatArray) -> FloatArray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


class TemperatureScaling:
    """p' = softmax(log p / T): one parameter, keeps the ranking of tiers in every row.

    The NLL is convex in β = 1/T with derivative mean(E_q[log p] − log p_true) (q the
    rescaled distribution), increasing in β; the fit bisects that derivative, which cannot
    diverge or ascend the loss the way the earlier hand-written gradient did.
    """

    kind = "temperature"

    def __init__(self, *, min_temperature: float = 0.05, max_temperature: float = 20.0) -> None:
        self.min_temperature = min_temperature
        self.max_temperature = max_temperature

    def fit(self, probs: FloatArray, tiers: IntArray) -> TemperatureScaling:
        logp = np.log(as_probs(probs))
        t = as_tiers(tiers)
        true_logp = logp[np.arange(len(t)), t - 1]

        def slope(beta: float) -> float:
            q = _softmax(beta * logp)
            return float(np.mean((q * logp).sum(axis=1) - true_logp))

        lo, hi = 1.0 / self.max_temperature, 1.0 / self.min_temperature
        if slope(lo) >= 0:
            beta = lo
        elif slope(hi) <= 0:
            beta = hi
        else:
            for _ in range(100):
                mid = math.sqrt(lo * hi)  # geometric: T spans orders of magnitude
                lo, hi = (mid, hi) if slope(mid) < 0 else (lo, mid)
            beta = math.sqrt(lo * hi)
        self.temperature_ = 1.0 / beta
        return self

    def transform(self, probs: FloatArray) -> FloatArray:
        return as_probs(_softmax(np.log(as_probs(probs)) / self.temperature_))

    def to_params(self) -> dict[str, Any]:
        return {"kind": self.kind, "temperature": self.temperature_}


class IsotonicTierCalibrator:
    """One isotonic map per tier (one-vs-rest), then renormalised.

    Many parameters, so it overfits small samples: the gate only tries it with ≥ 1,000 rows.
    """

    kind = "isotonic"

    def fit(self, probs: FloatArray, tiers: IntArray) -> IsotonicTierCalibrator:
        from sklearn.isotonic import IsotonicRegression

        p, t = as_probs(probs), as_tiers(tiers)
        self.thresholds_: list[tuple[list[float], list[float]]] = []
        for k in range(N_TIERS):
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            iso.fit(p[:, k], (t == k + 1).astype(np.float64))
            xs = [float(v) for v in iso.X_thresholds_]
            ys = [float(v) for v in iso.y_thresholds_]
            self.thresholds_.append((xs, ys))
        return self

    def transform(self, probs: FloatArray) -> FloatArray:
        p = as_probs(probs)
        cols = [
            np.interp(p[:, k], np.asarray(xs), np.asarray(ys))
            for k, (xs, ys) in enumerate(self.thresholds_)
        ]
        return as_probs(np.stack(cols, axis=1))

    def to_params(self) -> dict[str, Any]:
        return {"kind": self.kind, "thresholds": [[xs, ys] for xs, ys in self.thresholds_]}


def _logit(p: FloatArray) -> FloatArray:
    q = np.clip(p, 1e-7, 1 - 1e-7)
    return np.asarray(np.log(q / (1 - q)), dtype=np.float64)


class PlattScaling:
    """Binary calibration p' = σ(a·logit(p) + b), fitted by Newton's method on the NLL.

    For a yes/no probability such as P(tier 5). Gradient of the mean NLL:
    (mean((σ − y)·x), mean(σ − y)) with x = logit(p) — descending it, not ascending it.
    """

    kind = "platt"

    def __init__(self, *, max_iter: int = 100, ridge: float = 1e-6) -> None:
        self.max_iter = max_iter
        self.ridge = ridge  # keeps the Hessian invertible on separable data

    def fit(self, p: FloatArray, y: FloatArray) -> PlattScaling:
        x = _logit(np.asarray(p, dtype=np.float64))
        target = np.asarray(y, dtype=np.float64)
        design = np.stack([x, np.ones_like(x)], axis=1)
        w = np.array([1.0, 0.0])
        for _ in range(self.max_iter):
            s = 1.0 / (1.0 + np.exp(-(design @ w)))
            grad = design.T @ (s - target) / len(x) + self.ridge * w
            hess = (design.T * (s * (1 - s))) @ design / len(x) + self.ridge * np.eye(2)
            step = np.linalg.solve(hess, grad)
            w = w - step
            if np.abs(step).max() < 1e-10:
                break
        self.a_, self.b_ = float(w[0]), float(w[1])
        return self

    def transform(self, p: FloatArray) -> FloatArray:
        z = self.a_ * _logit(np.asarray(p, dtype=np.float64)) + self.b_
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)

    def to_params(self) -> dict[str, Any]:
        return {"kind": self.kind, "a": self.a_, "b": self.b_}


def calibrator_from_params(
    params: Mapping[str, Any],
) -> TemperatureScaling | IsotonicTierCalibrator:
    """Rebuild a fitted tier calibrator from its stored parameters."""
    kind = params.get("kind")
    if kind == TemperatureScaling.kind:
        temp = float(params["temperature"])
        if not (math.isfinite(temp) and temp > 0):
            raise ValueError("temperature must be a positive number")
        cal = TemperatureScaling()
        cal.temperature_ = temp
        return cal
    if kind == IsotonicTierCalibrator.kind:
        iso = IsotonicTierCalibrator()
        thresholds = params["thresholds"]
        if len(thresholds) != N_TIERS:
            raise ValueError("isotonic calibrator needs one map per tier")
        iso.thresholds_ = [
            ([float(v) for v in xs], [float(v) for v in ys]) for xs, ys in thresholds
        ]
        return iso
    raise ValueError(f"unknown calibrator kind {kind!r}")


# -- the gate --------------------------------------------------------------------------


@dataclass(frozen=True)
class GateResult:
    """What the gate decided and the held-out numbers it decided on."""

    activate: bool
    reason: str
    n_rows: int
    n_fit: int = 0
    n_holdout: int = 0
    kind: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    before: dict[str, float] = field(default_factory=dict)  # uncalibrated, held-out rows
    after: dict[str, float] = field(default_factory=dict)  # calibrated, held-out rows
    candidates: dict[str, dict[str, float]] = field(default_factory=dict)


def _scores(probs: FloatArray, tiers: IntArray) -> dict[str, float]:
    return {"nll": nll(probs, tiers), "ece": top_label_ece(probs, tiers, GATE_ECE_BINS)}


_Calibrator = TemperatureScaling | IsotonicTierCalibrator


def _best_candidate(
    fit_p: FloatArray,
    fit_t: IntArray,
    hold_p: FloatArray,
    hold_t: IntArray,
    before: dict[str, float],
    *,
    with_isotonic: bool,
) -> tuple[tuple[float, _Calibrator, dict[str, float]] | None, dict[str, dict[str, float]]]:
    """Fit each candidate on the earlier rows; the lowest held-out NLL among those that
    lower both NLL and ECE (None if none does), and every candidate's held-out scores."""
    makers: list[Callable[[], _Calibrator]] = [TemperatureScaling]
    if with_isotonic:
        makers.append(IsotonicTierCalibrator)
    candidates: dict[str, dict[str, float]] = {}
    best: tuple[float, _Calibrator, dict[str, float]] | None = None
    for make in makers:
        cal = make().fit(fit_p, fit_t)
        after = _scores(cal.transform(hold_p), hold_t)
        candidates[cal.kind] = after
        wins = after["nll"] < before["nll"] and after["ece"] < before["ece"]
        if wins and (best is None or after["nll"] < best[0]):
            best = (after["nll"], cal, after)
    return best, candidates


def fit_with_gate(
    probs: FloatArray,
    tiers: IntArray,
    *,
    min_rows: int = 50,
    isotonic_min_rows: int = 1000,
    holdout_fraction: float = 0.3,
) -> GateResult:
    """Fit on the earlier rows, judge on the later ones, activate only on a double win.

    Rows must be in time order (served first → first): the held-out part is the latest
    ``holdout_fraction``, the situation a calibrator will actually face. A candidate passes
    only if it lowers both NLL and top-label ECE (15 bins) there; the best passing NLL
    wins. The activated calibrator is exactly the one that was judged (fitted on the
    earlier rows only), so the reported held-out numbers describe what is served.
    """
    p, t = as_probs(probs), as_tiers(tiers)
    n = len(t)
    if n < min_rows:
        return GateResult(False, f"{n} joined outcomes; at least {min_rows} are required", n)
    n_fit = n - max(1, int(round(n * holdout_fraction)))
    before = _scores(p[n_fit:], t[n_fit:])
    best, candidates = _best_candidate(p[:n_fit], t[:n_fit], p[n_fit:], t[n_fit:], before,
                                       with_isotonic=n_fit >= isotonic_min_rows)  # fmt: skip
    sizes = (n, n_fit, n - n_fit)
    if best is None:
        reason = "no calibrator improved both NLL and ECE on the held-out rows"
        return GateResult(False, reason, *sizes, before=before, candidates=candidates)
    _, cal, after = best
    return GateResult(True, f"{cal.kind} improved held-out NLL and ECE", *sizes,
                      kind=cal.kind, params=cal.to_params(), before=before, after=after,
                      candidates=candidates)  # fmt: skip
