"""The followers prior: chosen by leave-one-source-out inside the training data."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.training.conftest import FAST
from virtuna.engine.bundle import BundleMeta, FollowersPrior, ModelBundle
from virtuna.training.dataset import Dataset
from virtuna.training.metrics import spearman
from virtuna.training.shrink import ALPHAS, choose_prior, followers_line, pick_alpha
from virtuna.training.train import _fixed_rounds, fit, outcome_sampled


def test_prior_leaves_rows_without_followers_alone() -> None:
    prior = FollowersPrior(alpha=0.5, intercept=1.0, slope=1.0, center=10.0)
    mu = np.array([4.0, 4.0])
    out = prior.apply(mu, np.array([10.0, np.nan]))
    assert out.tolist() == [0.5 * 4.0 + 0.5 * 11.0, 4.0]


def test_alpha_zero_and_one_are_the_model_and_the_line() -> None:
    mu, logf = np.array([3.0, 9.0]), np.array([5.0, 6.0])
    assert FollowersPrior(0.0, 2.0, 1.5, 5.5).apply(mu, logf).tolist() == mu.tolist()
    assert FollowersPrior(1.0, 2.0, 1.5, 5.5).apply(mu, logf).tolist() == [9.5, 11.0]


def test_followers_line_recovers_a_known_line(sample_dataset: Dataset) -> None:
    ds = sample_dataset.subset(np.isfinite(sample_dataset.column("log_followers")))
    y = 2.0 + 0.5 * ds.column("log_followers")
    ds = replace(ds, y=y)
    intercept, slope, _ = followers_line(ds)
    assert intercept == pytest.approx(2.0)
    assert slope == pytest.approx(0.5)


def test_pick_alpha_prefers_the_best_mean_that_is_safe_everywhere() -> None:
    lifts = np.array([[0.05, 0.07, 0.05, 0.0], [-0.01, 0.01, 0.02, 0.0]])
    assert pick_alpha(lifts) == 1  # index 0 is unsafe; mean 0.04 beats 0.035 and 0.0
    assert pick_alpha(np.array([[0.1, 0.2], [-0.2, -0.1]])) == 1  # none safe: best worst case
    assert pick_alpha(np.array([[0.1, 0.1], [0.0, 0.0]])) == 0  # ties: smaller alpha
    assert pick_alpha(np.array([[0.3, 0.1], [-0.01, 0.05]])) == 1  # unsafe best mean refused


def test_chosen_alpha_follows_the_rule(sample_dataset: Dataset) -> None:
    rows = sample_dataset.subset(sample_dataset.eligible() & ~outcome_sampled(sample_dataset))
    prior, report = choose_prior(rows, FAST.features, _fixed_rounds(FAST, 60))
    assert prior is not None
    worst = report["worst_lift"]
    assert worst == [min(v[i] for v in report["lift_by_source"].values())
                     for i in range(len(ALPHAS))]  # fmt: skip
    lifts = np.asarray(list(report["lift_by_source"].values()))
    assert prior.alpha == ALPHAS[pick_alpha(lifts)]
    assert len(report["lift_by_source"]) == len(np.unique(rows.source))


def test_no_prior_without_followers_or_with_one_source(sample_dataset: Dataset) -> None:
    rows = sample_dataset.subset(sample_dataset.eligible() & ~outcome_sampled(sample_dataset))
    no_followers = tuple(f for f in FAST.features if f != "log_followers")
    assert choose_prior(rows, no_followers, _fixed_rounds(FAST, 10))[0] is None
    one = rows.subset(rows.source == rows.source[0])
    assert choose_prior(one, FAST.features, _fixed_rounds(FAST, 10))[0] is None


def test_bundle_serves_the_shrunk_estimate(sample_dataset: Dataset, tmp_path: object) -> None:
    bundle = fit(sample_dataset, FAST)
    prior = bundle.meta.followers_prior
    assert prior is not None
    X = sample_dataset.X[:200]
    raw = np.asarray(bundle.booster.predict(X), dtype=np.float64)
    expected = prior.apply(raw, sample_dataset.column("log_followers")[:200])
    assert np.allclose(bundle.predict_log_views(X), expected)
    served = [p.predicted_log_views for p in bundle.predict_matrix(X)]
    assert np.allclose(served, expected)
    again = BundleMeta.from_json(bundle.meta.to_json())
    assert again.followers_prior == prior
    legacy = {k: v for k, v in bundle.meta.to_json().items() if k != "followers_prior"}
    assert BundleMeta.from_json(legacy).followers_prior is None
    assert isinstance(bundle, ModelBundle)
    assert spearman(bundle.predict_log_views(X), sample_dataset.y[:200]) > 0.0
