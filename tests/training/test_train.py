from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.training.conftest import FAST
from virtuna.engine.bundle import ModelBundle
from virtuna.training.dataset import Dataset
from virtuna.training.metrics import spearman, tiers_of
from virtuna.training.train import fit, later_fraction, outcome_sampled, source_weights


@pytest.fixture(scope="module")
def split(sample_dataset: Dataset) -> tuple[Dataset, Dataset]:
    ds = sample_dataset.subset(sample_dataset.eligible())
    late = later_fraction(ds, 0.2)
    return ds.subset(~late), ds.subset(late)


@pytest.fixture(scope="module")
def bundle(split: tuple[Dataset, Dataset]) -> ModelBundle:
    return fit(split[0], FAST, data_sha256="ab" * 32)


def test_same_seed_gives_identical_model(split: tuple[Dataset, Dataset],
                                         bundle: ModelBundle) -> None:  # fmt: skip
    again = fit(split[0], FAST, data_sha256="ab" * 32)
    assert again.booster.model_to_string() == bundle.booster.model_to_string()
    assert again.scale.model_to_string() == bundle.scale.model_to_string()
    assert again.meta.z_quantiles == bundle.meta.z_quantiles
    other = fit(split[0], replace(FAST, seed=7), data_sha256="ab" * 32)
    assert other.booster.model_to_string() != bundle.booster.model_to_string()


def test_bundle_metadata(bundle: ModelBundle) -> None:
    meta = bundle.meta
    assert list(meta.tier_cutoffs) == sorted(meta.tier_cutoffs)
    assert meta.data_sha256 == "ab" * 32
    assert meta.version.endswith("-abababab-s42")
    assert {"lightgbm", "numpy", "scikit-learn", "python"} <= set(meta.libraries)
    assert meta.metrics["best_iteration"] >= 1
    assert meta.params["deterministic"] is True


def test_model_beats_followers_on_later_videos(split: tuple[Dataset, Dataset],
                                                bundle: ModelBundle) -> None:  # fmt: skip
    test = split[1].subset(~outcome_sampled(split[1]))
    mu = bundle.predict_log_views(test.X)
    followers = np.nan_to_num(test.column("log_followers"), nan=-1.0)
    assert spearman(mu, test.y) > spearman(followers, test.y) + 0.03


def test_tier_probabilities_are_honest_on_later_videos(split: tuple[Dataset, Dataset],
                                                        bundle: ModelBundle) -> None:  # fmt: skip
    test = split[1].subset(~outcome_sampled(split[1]))
    mu = bundle.predict_log_views(test.X)
    probs = bundle.tier_probabilities(mu, bundle.predict_scale(test.X))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    true = tiers_of(test.y, np.asarray(bundle.meta.tier_cutoffs))
    # Mean predicted probability of each tier tracks its real frequency.
    freq = np.bincount(true, minlength=6)[1:] / len(true)
    assert np.abs(probs.mean(axis=0) - freq).max() < 0.08


def test_feed_rows_are_not_fitted(sample_dataset: Dataset) -> None:
    feed = outcome_sampled(sample_dataset)
    assert feed.any()
    only_feed_changed = sample_dataset.y.copy()
    only_feed_changed[feed] += 5.0  # if feed rows were fitted, the model would move
    moved = replace(sample_dataset, y=only_feed_changed)
    a = fit(sample_dataset, FAST)
    b = fit(moved, FAST)
    assert a.booster.model_to_string() == b.booster.model_to_string()


def test_source_weights_balance_sources() -> None:
    src = np.asarray(["a"] * 30 + ["b"] * 10)
    w = source_weights(src)
    assert w[src == "a"].sum() == pytest.approx(w[src == "b"].sum())
    assert w.mean() == pytest.approx(1.0)


def test_save_and_load_round_trip(bundle: ModelBundle, split: tuple[Dataset, Dataset],
                                  tmp_path: Path) -> None:  # fmt: skip
    loaded = ModelBundle.load(bundle.save(tmp_path / "b"))
    X = split[1].X[:50]
    assert loaded.version == bundle.version
    np.testing.assert_array_equal(loaded.predict_log_views(X), bundle.predict_log_views(X))
    a = [p.tier_probabilities for p in loaded.predict_matrix(X)]
    b = [p.tier_probabilities for p in bundle.predict_matrix(X)]
    assert a == b


def test_too_few_rows_is_a_clear_error(sample_dataset: Dataset) -> None:
    with pytest.raises(ValueError, match="too few rows"):
        fit(sample_dataset.subset(np.arange(50)), FAST)
