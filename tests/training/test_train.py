from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from tests.training.conftest import FAST
from virtuna.engine.bundle import FALLBACK_SUFFIX, ModelBundle, bundle_zip, unzip_bundle
from virtuna.engine.features import FEATURE_GROUPS, FEATURE_NAMES, PrePostingInput, build_features
from virtuna.engine.types import MLPrediction
from virtuna.training.dataset import Dataset
from virtuna.training.metrics import spearman, tiers_of
from virtuna.training.train import (
    UNKNOWN_ENCODING,
    FloatArray,
    _unknown_at_random,
    fit,
    later_fraction,
    outcome_sampled,
    source_weights,
)


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


@pytest.fixture(scope="module")
def with_fallback(split: tuple[Dataset, Dataset]) -> ModelBundle:
    return fit(split[0], replace(FAST, no_creator_fallback=True), data_sha256="ab" * 32)


def _without_followers(X: FloatArray) -> FloatArray:
    out = X.copy()
    out[:, FEATURE_NAMES.index("log_followers")] = np.nan
    return out


def _numbers(predictions: list[MLPrediction]) -> list[tuple[object, ...]]:
    """A prediction without its model version (it names the second a bundle was made)."""
    return [(p.score, p.tier_probabilities, p.predicted_log_views) for p in predictions]


def test_unknown_creators_are_scored_by_the_content_only_model(
    split: tuple[Dataset, Dataset], bundle: ModelBundle, with_fallback: ModelBundle
) -> None:
    fallback = with_fallback.fallback
    assert fallback is not None
    assert fallback.version == with_fallback.version + FALLBACK_SUFFIX
    assert not set(fallback.meta.feature_names) & set(FEATURE_GROUPS["creator"])
    assert fallback.meta.tier_cutoffs == with_fallback.meta.tier_cutoffs
    X = split[1].X[:40]
    mixed = X.copy()
    mixed[::2] = _without_followers(X[::2])
    got = with_fallback.predict_matrix(mixed)
    # Known creators: exactly the main model (same seed, same rows as `bundle`).
    assert _numbers(got[1::2]) == _numbers(bundle.predict_matrix(X[1::2]))
    # Unknown ones: the content-only model on its own columns, not "zero followers".
    cols = [FEATURE_NAMES.index(n) for n in fallback.meta.feature_names]
    assert got[::2] == fallback.predict_matrix(np.ascontiguousarray(mixed[::2][:, cols]))
    assert all(p.model_version.endswith(FALLBACK_SUFFIX) for p in got[::2])
    plain = bundle.predict_matrix(mixed[::2])
    assert [p.score for p in got[::2]] != [p.score for p in plain]


def test_content_only_model_ranks_later_videos_without_creators(
    split: tuple[Dataset, Dataset], with_fallback: ModelBundle
) -> None:
    test = split[1].subset(~outcome_sampled(split[1]))
    scores = [p.score for p in with_fallback.predict_matrix(_without_followers(test.X))]
    assert spearman(np.asarray(scores), test.y) > 0.15


def test_fallback_survives_save_load_and_zip(
    split: tuple[Dataset, Dataset], with_fallback: ModelBundle, tmp_path: Path
) -> None:
    X = _without_followers(split[1].X[:20])
    loaded = ModelBundle.load(with_fallback.save(tmp_path / "b"))
    assert loaded.predict_matrix(X) == with_fallback.predict_matrix(X)
    unzipped = ModelBundle.load(unzip_bundle(bundle_zip(tmp_path / "b"), tmp_path / "z"))
    assert unzipped.predict_matrix(X) == with_fallback.predict_matrix(X)
    # Saving a bundle without a fallback over it removes the stale one.
    ModelBundle(loaded.booster, loaded.scale, loaded.meta).save(tmp_path / "b")
    assert ModelBundle.load(tmp_path / "b").fallback is None


def test_unknown_encoding_is_what_the_feature_builder_writes() -> None:
    draft = PrePostingInput(
        caption="a draft with no duration and no sound #food", hashtags=("food",),
        posted_at=datetime(2025, 1, 1, tzinfo=UTC), duration_seconds=None, sound_title=None,
        sound_author=None, sound_original=None, creator=None, trends=None,
    )  # fmt: skip
    built = build_features(draft)
    for encoding in UNKNOWN_ENCODING.values():
        for feature, value in encoding.items():
            assert built[feature] == value or (np.isnan(built[feature]) and np.isnan(value))


def test_unknown_at_random_masks_the_configured_share(sample_dataset: Dataset) -> None:
    config = replace(FAST, unknown_at_random=("duration",), unknown_fraction=0.3)
    masked = _unknown_at_random(sample_dataset, config)
    column = FEATURE_NAMES.index("duration_missing")
    share = masked.X[:, column].mean() - sample_dataset.X[:, column].mean()
    assert 0.2 < share < 0.35
    assert np.array_equal(masked.y, sample_dataset.y)
    assert _unknown_at_random(sample_dataset, FAST) is sample_dataset
