"""Calibration math against hand-computed cases and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss

from virtuna.engine.calibrate import (
    FloatArray,
    IntArray,
    bootstrap_ci,
    brier,
    ece,
    metrics_report,
    nll,
    observed_tiers,
    tier5_brier,
    top_label_ece,
)
from virtuna.engine.calibrators import (
    IsotonicTierCalibrator,
    PlattScaling,
    TemperatureScaling,
    calibrator_from_params,
    fit_with_gate,
)
from virtuna.training.metrics import top_label_ece as training_top_label_ece


def _simulate(n: int, temperature: float, seed: int = 0) -> tuple[FloatArray, IntArray, FloatArray]:
    """Tiers drawn from true probabilities; the model reports them sharpened by 1/T."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.5, size=(n, 5))
    true = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    tiers = np.array([rng.choice(5, p=row) + 1 for row in true], dtype=np.int64)
    sharp = np.exp(logits * temperature)
    model = sharp / sharp.sum(axis=1, keepdims=True)
    return model, tiers, true


def test_ece_hand_computed() -> None:
    conf = np.array([0.9, 0.9, 0.3, 0.3])
    correct = np.array([1.0, 0.0, 0.0, 0.0])
    # bin 9: |0.9 − 0.5| × 2/4 = 0.2; bin 3: |0.3 − 0| × 2/4 = 0.15
    assert ece(conf, correct, 10) == pytest.approx(0.35)
    assert ece(np.array([1.0]), np.array([1.0]), 10) == 0.0  # 1.0 lands in the last bin
    assert ece(np.array([]), np.array([]), 10) == 0.0


def test_top_label_ece_matches_the_training_report() -> None:
    probs, tiers, _ = _simulate(2000, 1.7)
    assert top_label_ece(probs, tiers, 15) == pytest.approx(
        training_top_label_ece(probs, tiers, 15)
    )


def test_nll_and_brier_match_scikit_learn() -> None:
    probs, tiers, _ = _simulate(500, 1.0)
    assert nll(probs, tiers) == pytest.approx(log_loss(tiers, probs, labels=[1, 2, 3, 4, 5]))
    assert tier5_brier(probs, tiers) == pytest.approx(brier_score_loss(tiers == 5, probs[:, 4]))
    onehot = np.eye(5)[tiers - 1]
    assert brier(probs, tiers) == pytest.approx(((probs - onehot) ** 2).sum(axis=1).mean())


def test_observed_tiers_use_the_cutoffs_inclusively_from_below() -> None:
    cutoffs = [np.log1p(10.0), np.log1p(100.0), np.log1p(1000.0), np.log1p(10000.0)]
    assert observed_tiers([0, 9, 10, 99, 100, 5000, 10000, 10**9], cutoffs).tolist() == [
        1, 1, 2, 2, 3, 4, 5, 5,
    ]  # fmt: skip


def test_temperature_scaling_recovers_a_known_temperature() -> None:
    probs, tiers, _ = _simulate(20000, 2.0)  # over-confident by a factor 2 in log space
    cal = TemperatureScaling().fit(probs, tiers)
    assert cal.temperature_ == pytest.approx(2.0, rel=0.05)
    assert nll(cal.transform(probs), tiers) < nll(probs, tiers)


def test_temperature_fit_is_the_nll_minimum() -> None:
    probs, tiers, _ = _simulate(3000, 0.6, seed=3)  # under-confident
    cal = TemperatureScaling().fit(probs, tiers)
    grid = np.linspace(0.3, 1.2, 181)
    losses = [nll(_fixed(t).transform(probs), tiers) for t in grid]
    assert cal.temperature_ == pytest.approx(grid[int(np.argmin(losses))], abs=0.01)


def _fixed(temperature: float) -> TemperatureScaling:
    cal = TemperatureScaling()
    cal.temperature_ = temperature
    return cal


def test_platt_matches_scikit_learn_logistic_regression() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0.01, 0.99, 4000)
    y = (rng.uniform(size=4000) < 1 / (1 + np.exp(-(0.5 * np.log(p / (1 - p)) - 0.7)))).astype(
        float
    )
    cal = PlattScaling().fit(p, y)
    ref = LogisticRegression(C=1e12, max_iter=1000).fit(np.log(p / (1 - p))[:, None], y)
    assert cal.a_ == pytest.approx(float(ref.coef_[0, 0]), abs=1e-3)
    assert cal.b_ == pytest.approx(float(ref.intercept_[0]), abs=1e-3)
    assert cal.a_ == pytest.approx(0.5, abs=0.1)  # and the data's true slope
    # Descending the loss: calibrated probabilities never fit worse than the raw ones.
    assert brier_score_loss(y, cal.transform(p)) < brier_score_loss(y, p)


def test_gate_activates_a_calibrator_that_helps() -> None:
    probs, tiers, _ = _simulate(600, 2.0, seed=5)
    decision = fit_with_gate(probs, tiers, min_rows=50)
    assert decision.activate, decision.reason
    assert decision.kind == "temperature"
    assert decision.after["nll"] < decision.before["nll"]
    assert decision.after["ece"] < decision.before["ece"]
    assert (decision.n_fit, decision.n_holdout) == (420, 180)
    assert "isotonic" not in decision.candidates  # fewer than 1,000 rows


def test_gate_refuses_a_calibrator_that_would_worsen_nll() -> None:
    # Earlier rows over-confident, later (held-out) rows already calibrated: the fitted
    # temperature (≈ 2) flattens the later rows and makes them worse, so it is refused.
    early, early_t, _ = _simulate(700, 2.0, seed=7)
    late, late_t, _ = _simulate(300, 1.0, seed=8)
    decision = fit_with_gate(np.vstack([early, late]), np.concatenate([early_t, late_t]))
    assert not decision.activate
    assert decision.candidates["temperature"]["nll"] > decision.before["nll"]
    assert decision.params == {}


def test_gate_refuses_a_calibrator_that_improves_nll_but_not_ece() -> None:
    # 80 rows (24 held out): temperature scaling lowers the held-out NLL but its ECE rises,
    # so it is not a double win and the prediction stays uncalibrated.
    probs, tiers, _ = _simulate(80, 1.6, seed=1)
    decision = fit_with_gate(probs, tiers, min_rows=50)
    candidate = decision.candidates["temperature"]
    assert candidate["nll"] < decision.before["nll"]
    assert candidate["ece"] > decision.before["ece"]
    assert not decision.activate
    assert decision.kind is None


def test_gate_needs_the_minimum_number_of_rows() -> None:
    probs, tiers, _ = _simulate(49, 2.0)
    decision = fit_with_gate(probs, tiers, min_rows=50)
    assert not decision.activate
    assert "49" in decision.reason


def test_isotonic_is_tried_only_with_enough_rows() -> None:
    probs, tiers, _ = _simulate(2000, 2.0, seed=11)
    decision = fit_with_gate(probs, tiers, isotonic_min_rows=1000)
    assert set(decision.candidates) == {"temperature", "isotonic"}


@pytest.mark.parametrize("make", [TemperatureScaling, IsotonicTierCalibrator])
def test_params_round_trip(make: type[TemperatureScaling | IsotonicTierCalibrator]) -> None:
    probs, tiers, _ = _simulate(1500, 1.5, seed=2)
    cal = make().fit(probs, tiers)
    again = calibrator_from_params(cal.to_params())
    np.testing.assert_allclose(again.transform(probs), cal.transform(probs))
    assert np.allclose(again.transform(probs).sum(axis=1), 1.0)


def test_unknown_params_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown"):
        calibrator_from_params({"kind": "magic"})
    with pytest.raises(ValueError, match="positive"):
        calibrator_from_params({"kind": "temperature", "temperature": -1})


def test_bootstrap_interval_narrows_with_more_rows() -> None:
    small_p, small_t, _ = _simulate(40, 1.0, seed=4)
    big_p, big_t, _ = _simulate(4000, 1.0, seed=4)
    small = bootstrap_ci(nll, small_p, small_t)
    big = bootstrap_ci(nll, big_p, big_t)
    assert small is not None
    assert big is not None
    assert small[0] <= nll(small_p, small_t) <= small[1]
    assert (big[1] - big[0]) < (small[1] - small[0]) / 3


def test_metrics_report_carries_counts_intervals_and_bins() -> None:
    probs, tiers, _ = _simulate(300, 1.0)
    report = metrics_report(probs, tiers, reps=50)
    assert report["n"] == 300
    assert set(report["metrics"]) >= {"ece_top_10", "ece_top_15", "ece_tier5_10", "nll", "brier"}
    lo, hi = report["metrics"]["ece_top_15"]["ci95"]
    assert lo <= hi
    assert sum(b["count"] for b in report["reliability"]["top_label_15"]) == 300
