"""Fit a bundle: LightGBM on log1p(views) + tier cut-offs + residual distribution.

Choices and why:
- Regression on log1p(views), not a 5-class model: the tiers are ordered cut-offs of one
  quantity, so a single ranked estimate plus its error distribution gives a monotone score
  and tier probabilities that are consistent with it (a multiclass softmax can rank tier 5
  above tier 4 for a row whose expected views are lower).
- Early stopping on the latest ``VALID_FRACTION`` of each source's training rows by create
  time, the same direction as the real use (predict later videos from earlier ones).
- A second, small LightGBM predicts the size of the error, s(x), from the same features;
  the standardised residuals z = (y - mu) / s of that validation slice (computed with a
  creator-disjoint 2-fold fit of the scale model, so out of sample) give the distribution
  the tier probabilities integrate. See ``virtuna.engine.bundle``.
- Rows sampled *because* they were viral are not fitted: thienphucle's For-You-feed rows
  (sampling group ``…:feed``) were selected on the outcome, and most have no earlier video
  of their creator, so a model fitted on them learns "no history ⇒ viral" — how the data
  was collected, not the video (data README). Fitting on them raised pooled Spearman by
  0.08 while *lowering* it inside every unbiased group. They still serve as creator
  history and trend data: their view counts are real.
- Sample weights give each source the same total weight: datares holds 56% of the rows but
  is the population least like the product's users (2020, top creators only).
- Only rows ≥ 7 days old at scrape are fitted (young videos' views are still growing).
- Deterministic: fixed seed, ``deterministic=True``, ``force_col_wise``, fixed threads.
"""

from __future__ import annotations

import platform
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import sklearn

from virtuna import __version__
from virtuna.engine.bundle import (
    FALLBACK_SUFFIX,
    FOLLOWERS_FEATURE,
    BundleMeta,
    FollowersPrior,
    ModelBundle,
)
from virtuna.engine.features import FEATURE_GROUPS, FEATURE_NAMES, NAN
from virtuna.training.dataset import Dataset
from virtuna.training.shrink import choose_prior

NO_CREATOR_FEATURES = tuple(f for f in FEATURE_NAMES if f not in FEATURE_GROUPS["creator"])
# How the feature builder encodes a draft field left out (``engine.features``).
UNKNOWN_ENCODING: dict[str, dict[str, float]] = {
    "duration": {"duration_seconds": NAN, "duration_missing": 1.0, "is_photo": NAN},
    "sound": {"has_sound": 0.0, "sound_original": NAN, "sound_log_count": NAN,
              "sound_log_median_views": NAN},
    # No trend snapshot at all (an empty or stale database), not "tags never used"; the
    # generic-tag count comes from the caption, not from the snapshot.
    "trends": dict.fromkeys(
        (f for f in FEATURE_GROUPS["trends"] if f != "generic_tag_count"), NAN
    ),
}  # fmt: skip
VALID_FRACTION = 0.15
TARGET_LEVELS = 101  # percentiles 0..100 of training log-views for the score mapping
RESIDUAL_LEVELS = 201
MIN_SCALE = 0.2  # log-views; below any error the data supports (rounded counts alone ~0.05)
SCALE_ROUNDS = 150
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 42
    features: tuple[str, ...] = FEATURE_NAMES
    num_leaves: int = 15
    learning_rate: float = 0.05
    max_rounds: int = 600
    early_stopping_rounds: int = 40
    min_child_samples: int = 40
    num_threads: int = 2
    balance_sources: bool = True
    exclude_outcome_sampled: bool = True  # drop ":feed" sampling groups from fitting
    followers_prior: bool = True  # choose a shrink toward followers by inner LOSO (shrink.py)
    # Also fit the content-only model that scores drafts of unknown creators (the main
    # model never saw a row without followers: it would read "unknown" as "none").
    no_creator_fallback: bool = False
    # Draft fields a user often leaves out (duration, sound) and the trend statistics an
    # empty or stale database cannot give are nearly always present in scraped rows, so
    # "unknown" would read as "the rare rows that lacked them". Each listed field is set to
    # unknown, exactly as the feature builder encodes it, in a random ``unknown_fraction``
    # of the fitted rows: the trees learn unknown ~ the marginal.
    unknown_at_random: tuple[str, ...] = ()
    unknown_fraction: float = 0.3
    extra: dict[str, Any] = field(default_factory=dict)

    def lgb_params(self) -> dict[str, Any]:
        return {
            "objective": "regression",
            "metric": "l2",
            "num_leaves": self.num_leaves,
            "learning_rate": self.learning_rate,
            "min_child_samples": self.min_child_samples,
            "feature_fraction": 0.9,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            "seed": self.seed,
            "deterministic": True,
            "force_col_wise": True,
            "num_threads": self.num_threads,
            "verbose": -1,
            **self.extra,
        }


def later_fraction(ds: Dataset, fraction: float) -> BoolArray:
    """Mask of the latest ``fraction`` of each source's rows by create time."""
    mask = np.zeros(len(ds), dtype=bool)
    for src in np.unique(ds.source):
        idx = np.flatnonzero(ds.source == src)
        order = idx[np.argsort(ds.created[idx], kind="mergesort")]
        n_late = int(round(len(order) * fraction))
        if n_late:
            mask[order[len(order) - n_late :]] = True
    return mask


def source_weights(source: npt.NDArray[np.str_]) -> FloatArray:
    """Weights giving every source the same total weight, mean weight 1."""
    names, inverse, counts = np.unique(source, return_inverse=True, return_counts=True)
    w = len(source) / (len(names) * counts[inverse])
    return np.asarray(w, dtype=np.float64)


def _columns(ds: Dataset, features: Sequence[str]) -> FloatArray:
    idx = [ds.feature_names.index(f) for f in features]
    return np.ascontiguousarray(ds.X[:, idx])


def outcome_sampled(ds: Dataset) -> BoolArray:
    """Rows collected because they already performed (For-You-feed scrapes)."""
    return np.char.endswith(ds.group.astype(str), ":feed")


def _scale_params(config: TrainConfig) -> dict[str, Any]:
    # L1 on |residual|: s(x) is the conditional median error, robust to the heavy tails.
    return config.lgb_params() | {
        "objective": "l1",
        "metric": "l1",
        "num_leaves": 7,
        "min_child_samples": 100,
    }


def _fold(author: npt.NDArray[np.str_]) -> npt.NDArray[np.int64]:
    # crc32, not hash(): str hashes are salted per process and would break determinism.
    return np.asarray([zlib.crc32(a.encode()) % 2 for a in author], dtype=np.int64)


def _fit_scale(valid: Dataset, resid: FloatArray, config: TrainConfig
               ) -> tuple[lgb.Booster, FloatArray]:  # fmt: skip
    """Scale model on all validation rows + out-of-fold standardised residuals z."""
    X = _columns(valid, config.features)
    names = list(config.features)

    def train(rows: BoolArray) -> lgb.Booster:
        data = lgb.Dataset(X[rows], np.abs(resid[rows]), feature_name=names)
        return lgb.train(_scale_params(config), data, num_boost_round=SCALE_ROUNDS)

    fold = _fold(valid.author)
    z = np.empty_like(resid)
    for k in (0, 1):
        held = fold == k
        if held.all() or not held.any():  # one creator only: fall back to in-sample
            held = np.ones(len(resid), dtype=bool)
        model = train(~held if not held.all() else held)
        z[held] = resid[held] / np.maximum(model.predict(X[held]), MIN_SCALE)
    return train(np.ones(len(resid), dtype=bool)), z


def _fixed_rounds(config: TrainConfig, rounds: int) -> Callable[[Dataset], lgb.Booster]:
    """Trees with the main model's settings and round count, no early stopping."""

    def fit_trees(rows: Dataset) -> lgb.Booster:
        weight = source_weights(rows.source) if config.balance_sources else None
        data = lgb.Dataset(_columns(rows, config.features), rows.y, weight=weight,
                           feature_name=list(config.features))  # fmt: skip
        return lgb.train(config.lgb_params(), data, num_boost_round=max(rounds, 1))

    return fit_trees


def _prior(fit_rows: Dataset, config: TrainConfig, rounds: int
           ) -> tuple[FollowersPrior | None, dict[str, Any]]:  # fmt: skip
    if not config.followers_prior:
        return None, {}
    return choose_prior(fit_rows, config.features, _fixed_rounds(config, rounds))


def _fit_booster(train: Dataset, valid: Dataset, config: TrainConfig) -> lgb.Booster:
    features = list(config.features)
    w_train = source_weights(train.source) if config.balance_sources else None
    w_valid = source_weights(valid.source) if config.balance_sources else None
    dtrain = lgb.Dataset(
        _columns(train, features), train.y, weight=w_train, feature_name=features,
        free_raw_data=True,
    )  # fmt: skip
    dvalid = lgb.Dataset(
        _columns(valid, features), valid.y, weight=w_valid, reference=dtrain,
        feature_name=features,
    )  # fmt: skip
    return lgb.train(
        config.lgb_params(),
        dtrain,
        num_boost_round=config.max_rounds,
        valid_sets=[dvalid],
        callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
    )


def libraries() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "lightgbm": lgb.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "virtuna": __version__,
    }


def _fit_rows(ds: Dataset, config: TrainConfig) -> Dataset:
    keep = ds.eligible()
    if config.exclude_outcome_sampled:
        keep &= ~outcome_sampled(ds)
    fit_rows = ds.subset(keep)
    if len(fit_rows) < 100:
        raise ValueError(f"too few rows to train on ({len(fit_rows)} eligible, need ≥ 100)")
    return fit_rows


def _unknown_at_random(ds: Dataset, config: TrainConfig) -> Dataset:
    """``ds`` with each of ``config.unknown_at_random``'s fields unknown in a random
    fraction of rows (seeded; independent per field)."""
    if not config.unknown_at_random:
        return ds
    X = ds.X.copy()
    rng = np.random.default_rng(config.seed)
    for name in config.unknown_at_random:
        rows = rng.random(len(ds)) < config.unknown_fraction
        for feature, value in UNKNOWN_ENCODING[name].items():
            X[rows, ds.feature_names.index(feature)] = value
    return replace(ds, X=X)


def fit(ds: Dataset, config: TrainConfig | None = None, *, data_sha256: str = "") -> ModelBundle:
    """Train on the eligible rows of ``ds`` and return the in-memory bundle."""
    config = config or TrainConfig()
    fit_rows = _unknown_at_random(_fit_rows(ds, config), config)
    valid_mask = later_fraction(fit_rows, VALID_FRACTION)
    train, valid = fit_rows.subset(~valid_mask), fit_rows.subset(valid_mask)
    booster = _fit_booster(train, valid, config)
    mu = np.asarray(booster.predict(_columns(valid, config.features)), dtype=np.float64)
    prior, prior_report = _prior(fit_rows, config, int(booster.best_iteration))
    if prior is not None:
        mu = prior.apply(mu, valid.column(FOLLOWERS_FEATURE))
    scale, z = _fit_scale(valid, valid.y - mu, config)
    created = datetime.now(UTC).replace(microsecond=0)
    levels = np.linspace(0.0, 1.0, RESIDUAL_LEVELS)
    meta = BundleMeta(
        version=f"lgbm-{created:%Y%m%d%H%M%S}-{(data_sha256 or 'nodata')[:8]}-s{config.seed}",
        feature_names=tuple(config.features),
        tier_cutoffs=_cutoffs(fit_rows.y),
        target_quantiles=tuple(
            float(v) for v in np.quantile(fit_rows.y, np.linspace(0, 1, TARGET_LEVELS))
        ),
        z_quantiles=tuple(float(v) for v in np.quantile(z, levels)),
        min_scale=MIN_SCALE,
        created_at=created.isoformat(),
        data_sha256=data_sha256,
        metrics={
            "train_rows": len(train),
            "valid_rows": len(valid),
            "best_iteration": int(booster.best_iteration),
            "valid_rmse": float(np.sqrt(np.mean((valid.y - mu) ** 2))),
            "followers_prior": prior_report,
            "valid_score_quantiles": score_quantiles(mu, fit_rows.y),
        },
        params={**config.lgb_params(), "num_boost_round": int(booster.best_iteration)},
        libraries=libraries(),
        followers_prior=prior,
    )
    return ModelBundle(booster, scale, meta, fallback=_no_creator(ds, config, meta.version))


def _no_creator(ds: Dataset, config: TrainConfig, version: str) -> ModelBundle | None:
    """The content-only model for drafts without a known creator, trained on the same rows
    (no followers prior: it has no followers to lean on), versioned after the main one."""
    if not config.no_creator_fallback or FOLLOWERS_FEATURE not in config.features:
        return None
    content = [f for f in config.features if f in NO_CREATOR_FEATURES]
    sub_config = replace(
        config,
        features=tuple(content),
        followers_prior=False,
        no_creator_fallback=False,
        # Not "trends": measured (bench/no_creator.py), it traded 0.013 Spearman where a
        # snapshot exists for nothing where none does (MODEL_CARD).
        unknown_at_random=("duration", "sound"),
    )
    sub = fit(ds, sub_config)
    sub.meta = replace(sub.meta, version=version + FALLBACK_SUFFIX, data_sha256="")
    return sub


def score_quantiles(mu: FloatArray, y: FloatArray, levels: int = 21) -> list[float]:
    """Quantiles of the ML score (0-100) the model gives its validation rows: the served
    score distribution to expect, the reference for the admin dashboard's drift chart."""
    target_q = np.quantile(y, np.linspace(0, 1, TARGET_LEVELS))
    scores = 100.0 * np.interp(mu, target_q, np.linspace(0.0, 1.0, TARGET_LEVELS))
    return [round(float(v), 3) for v in np.quantile(scores, np.linspace(0, 1, levels))]


def _cutoffs(y: FloatArray) -> tuple[float, float, float, float]:
    c = np.quantile(y, [0.25, 0.50, 0.75, 0.90])
    return (float(c[0]), float(c[1]), float(c[2]), float(c[3]))
