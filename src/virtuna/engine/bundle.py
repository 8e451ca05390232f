"""Versioned model artefact: LightGBM regressor + predictive distribution + metadata.

A bundle is a directory::

    model.txt     LightGBM text model: mu(x), the expected log1p(views)
    scale.txt     LightGBM text model: s(x), the typical size of |log1p(views) - mu(x)|
    bundle.json   version, feature list, tier cut-offs, target quantiles, quantiles of the
                  standardised residual z, metrics, data hash, library versions, created_at
    blend.json    optional: the product score's fitted blend weights for this model's
                  score (``virtuna.engine.blend``; written by ``virtuna ml fit-blend``)

Prediction: log1p(views) = mu(x) + s(x) * z, with z's empirical distribution measured
out of sample on a later-in-time validation slice. Tier probabilities integrate that
distribution between the stored tier cut-offs, so they are as wide as the model's real
errors. The scale model exists because errors are not homogeneous: a creator with a long
history is predictable to about ±1 in log-views, a newcomer or a Vietnamese-timeline
creator to ±1.6; one shared width was over-confident for the second group (top-label ECE
0.10 there) and under-confident for the first.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from importlib import resources
from pathlib import Path

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from virtuna.engine.blend import BLEND_FILE, BlendError, FittedBlend
from virtuna.engine.bundle_meta import (
    FALLBACK_SUFFIX,
    FOLLOWERS_FEATURE,
    FORMAT_VERSION,
    BundleError,
    BundleMeta,
    FollowersPrior,
)
from virtuna.engine.features import (
    FEATURE_NAMES,
    GROUP_OF_FEATURE,
    PrePostingInput,
    feature_matrix,
)
from virtuna.engine.types import MLPrediction

MODEL_FILE = "model.txt"
SCALE_FILE = "scale.txt"
META_FILE = "bundle.json"
# A bundle may carry a second bundle in this sub-directory: the content-only model that
# scores drafts whose creator is unknown (no followers), which the main model never saw.
FALLBACK_DIR = "no_creator"
_OWN_FILES = (MODEL_FILE, SCALE_FILE, META_FILE)
ARCHIVE_FILES = (*_OWN_FILES, BLEND_FILE, *(f"{FALLBACK_DIR}/{name}" for name in _OWN_FILES))
FloatArray = npt.NDArray[np.float64]
PIPELINE_CHUNK = 2048  # rows per chunk when bulk scoring overlaps features and trees


def _cdf(x: FloatArray, quantiles: FloatArray) -> FloatArray:
    """Empirical CDF from evenly spaced quantiles, linear in between, clipped to [0, 1]."""
    levels = np.linspace(0.0, 1.0, quantiles.shape[0])
    return np.interp(x, quantiles, levels, left=0.0, right=1.0)


class ModelBundle:
    """A loaded bundle; ``predict`` satisfies the engine's ML-stage ``Predictor`` protocol."""

    def __init__(
        self,
        booster: lgb.Booster,
        scale: lgb.Booster,
        meta: BundleMeta,
        blend: FittedBlend | None = None,
        fallback: ModelBundle | None = None,
    ) -> None:
        for model in (booster, scale):
            if tuple(model.feature_name()) != meta.feature_names:
                raise BundleError("model features differ from the bundle's feature list")
        self.booster = booster
        self.scale = scale
        self.meta = meta
        self.blend = blend
        self.fallback = fallback
        if fallback is not None and not set(fallback.meta.feature_names) <= set(meta.feature_names):
            raise BundleError("the no-creator model uses features the main model lacks")
        self._cutoffs = np.asarray(meta.tier_cutoffs, dtype=np.float64)
        self._target_q = np.asarray(meta.target_quantiles, dtype=np.float64)
        self._z_q = np.asarray(meta.z_quantiles, dtype=np.float64)

    @property
    def version(self) -> str:
        return self.meta.version

    @classmethod
    def load(cls, path: Path | str) -> ModelBundle:
        root = Path(path)
        try:
            raw = json.loads((root / META_FILE).read_text(encoding="utf-8"))
            model_text = (root / MODEL_FILE).read_text(encoding="utf-8")
            scale_text = (root / SCALE_FILE).read_text(encoding="utf-8")
        except (OSError, json.JSONDecodeError) as exc:
            raise BundleError(f"cannot read model bundle at {root}: {exc}") from exc
        try:
            meta = BundleMeta.from_json(raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{root / META_FILE}: malformed ({exc})") from exc
        try:
            blend = FittedBlend.load(root / BLEND_FILE) if (root / BLEND_FILE).is_file() else None
        except BlendError as exc:
            raise BundleError(str(exc)) from exc
        booster, scale = lgb.Booster(model_str=model_text), lgb.Booster(model_str=scale_text)
        fallback = cls.load(root / FALLBACK_DIR) if (root / FALLBACK_DIR).is_dir() else None
        return cls(booster, scale, meta, blend, fallback)

    def save(self, path: Path | str) -> Path:
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        (root / MODEL_FILE).write_text(self.booster.model_to_string(), encoding="utf-8")
        (root / SCALE_FILE).write_text(self.scale.model_to_string(), encoding="utf-8")
        meta_text = json.dumps(self.meta.to_json(), indent=1, sort_keys=True)
        (root / META_FILE).write_text(meta_text + "\n", encoding="utf-8")
        if self.blend is not None:
            self.blend.save(root / BLEND_FILE)
        if self.fallback is not None:
            self.fallback.save(root / FALLBACK_DIR)
        elif (root / FALLBACK_DIR).is_dir():  # never pair this model with another's fallback
            shutil.rmtree(root / FALLBACK_DIR)
        return root

    # -- matrix API (training and evaluation use it on whole tables) --------------------

    def matrix(self, inputs: Sequence[PrePostingInput]) -> FloatArray:
        X = feature_matrix(inputs)
        if self.meta.feature_names == FEATURE_NAMES:
            return X
        # A bundle fitted on a subset (ablations, older bundles): pick its columns.
        idx = [FEATURE_NAMES.index(name) for name in self.meta.feature_names]
        return np.ascontiguousarray(X[:, idx])

    def predict_log_views(self, X: FloatArray) -> FloatArray:
        return self.shrink(X, self._run(self.booster, X))

    def shrink(self, X: FloatArray, mu: FloatArray) -> FloatArray:
        """The trees' estimate with the bundle's followers prior applied (if any)."""
        prior = self.meta.followers_prior
        if prior is None or prior.alpha == 0.0 or FOLLOWERS_FEATURE not in self.meta.feature_names:
            return mu
        return prior.apply(mu, X[:, self.meta.feature_names.index(FOLLOWERS_FEATURE)])

    def predict_scale(self, X: FloatArray) -> FloatArray:
        return np.maximum(self._run(self.scale, X), self.meta.min_scale)

    @staticmethod
    def _run(model: lgb.Booster, X: FloatArray) -> FloatArray:
        # One thread for small batches: serving calls are single rows, where starting
        # threads costs more than the trees.
        out = model.predict(X, num_threads=1 if X.shape[0] < 512 else 0)
        return np.asarray(out, dtype=np.float64)

    def percentiles(self, mu: FloatArray) -> FloatArray:
        """Where each predicted log-views falls in the training population (0-1)."""
        return _cdf(mu, self._target_q)

    def tier_probabilities(
        self, mu: FloatArray, scale: FloatArray, cutoffs: FloatArray | None = None
    ) -> FloatArray:
        """P(tier) per row: mu + scale * z integrated between the tier cut-offs (the
        bundle's own, or ``cutoffs`` to compare models on one tier definition)."""
        cuts = self._cutoffs if cutoffs is None else cutoffs
        cdf = _cdf((cuts[None, :] - mu[:, None]) / scale[:, None], self._z_q)
        n = cdf.shape[0]
        probs = np.diff(np.hstack([np.zeros((n, 1)), cdf, np.ones((n, 1))]), axis=1)
        # A tier is never impossible: log-loss and downstream blends need a floor.
        probs = np.clip(probs, 1e-6, None)
        return np.asarray(probs / probs.sum(axis=1, keepdims=True), dtype=np.float64)

    def contributions(self, X: FloatArray) -> list[dict[str, float]]:
        """Per feature group SHAP contributions to predicted log-views (slow: ~ms/row)."""
        contrib = np.asarray(self.booster.predict(X, pred_contrib=True, num_threads=1))
        prior = self.meta.followers_prior
        keep = 1.0 - prior.alpha if prior is not None else 1.0
        out = []
        for i, row in enumerate(contrib):
            groups: dict[str, float] = {}
            for name, value in zip(self.meta.feature_names, row[:-1], strict=True):
                group = GROUP_OF_FEATURE.get(name, name)
                groups[group] = groups.get(group, 0.0) + keep * float(value)
            if prior is not None and prior.alpha > 0.0:
                x = X[i, self.meta.feature_names.index(FOLLOWERS_FEATURE)]
                if np.isfinite(x):  # the prior's part: its line relative to its baseline
                    share = prior.alpha * prior.slope * (float(x) - prior.center)
                    groups["creator"] = groups.get("creator", 0.0) + share
            out.append(groups)
        return out

    # -- the Predictor protocol --------------------------------------------------------

    def predict(self, inp: PrePostingInput, *, contributions: bool = False) -> MLPrediction:
        return self.predict_many([inp], contributions=contributions)[0]

    def predict_many(
        self, inputs: Sequence[PrePostingInput], *, contributions: bool = False
    ) -> list[MLPrediction]:
        if not inputs:
            return []
        if contributions or len(inputs) <= PIPELINE_CHUNK:
            return self.predict_matrix(self.matrix(inputs), contributions=contributions)
        return self._pipelined(inputs)

    def _pipelined(self, inputs: Sequence[PrePostingInput]) -> list[MLPrediction]:
        """Bulk scoring in chunks: one chunk's trees run in a worker thread (LightGBM
        releases the GIL) while this thread builds the next chunk's features and the
        previous chunk's predictions, so the two halves of the work overlap instead of
        adding up. A chunk with unknown creators is routed in this thread, in order."""
        out: list[MLPrediction] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lgbm") as pool:
            pending: Future[tuple[FloatArray, FloatArray]] | None = None
            for start in range(0, len(inputs), PIPELINE_CHUNK):
                X = self.matrix(inputs[start : start + PIPELINE_CHUNK])
                routed = self._creator_unknown(X) is not None
                submitted = None if routed else pool.submit(self._trees, X, 1)
                if pending is not None:
                    out += self._predictions(*pending.result())
                if routed:
                    out += self.predict_matrix(X, threads=1)
                pending = submitted
            if pending is not None:
                out += self._predictions(*pending.result())
        return out

    def _trees(self, X: FloatArray, threads: int | None = None) -> tuple[FloatArray, FloatArray]:
        """Predicted log-views and error scale per row."""
        if threads is None:
            return self.predict_log_views(X), self.predict_scale(X)
        mu = self.shrink(
            X, np.asarray(self.booster.predict(X, num_threads=threads), dtype=np.float64)
        )
        scale = np.asarray(self.scale.predict(X, num_threads=threads), dtype=np.float64)
        return mu, np.maximum(scale, self.meta.min_scale)

    def predict_matrix(
        self, X: FloatArray, *, contributions: bool = False, threads: int | None = None
    ) -> list[MLPrediction]:
        unknown = self._creator_unknown(X)
        if unknown is not None:
            return self._routed(X, unknown, contributions, threads)
        contrib = self.contributions(X) if contributions else None
        return self._predictions(*self._trees(X, threads), contrib)

    def _creator_unknown(self, X: FloatArray) -> npt.NDArray[np.bool_] | None:
        """Rows without followers, when a no-creator model is there to score them."""
        if self.fallback is None or FOLLOWERS_FEATURE not in self.meta.feature_names:
            return None
        column = X[:, self.meta.feature_names.index(FOLLOWERS_FEATURE)]
        unknown = ~np.isfinite(column)
        return unknown if unknown.any() else None

    def _routed(
        self,
        X: FloatArray,
        unknown: npt.NDArray[np.bool_],
        contributions: bool,
        threads: int | None,
    ) -> list[MLPrediction]:
        """Rows with a known creator through this model, the others through the fallback
        (on its own columns), back in input order."""
        assert self.fallback is not None
        out: list[MLPrediction | None] = [None] * X.shape[0]
        known_rows, unknown_rows = np.flatnonzero(~unknown), np.flatnonzero(unknown)
        if known_rows.size:
            own = self.predict_matrix(X[known_rows], contributions=contributions, threads=threads)
            for i, prediction in zip(known_rows.tolist(), own, strict=True):
                out[i] = prediction
        names = self.fallback.meta.feature_names
        cols = np.asarray([self.meta.feature_names.index(n) for n in names], dtype=np.intp)
        sub = np.ascontiguousarray(X[np.ix_(unknown_rows, cols)])
        other = self.fallback.predict_matrix(sub, contributions=contributions, threads=threads)
        for i, prediction in zip(unknown_rows.tolist(), other, strict=True):
            out[i] = prediction
        return [p for p in out if p is not None]

    def _predictions(
        self, mu: FloatArray, scale: FloatArray, contrib: list[dict[str, float]] | None = None
    ) -> list[MLPrediction]:
        pct = self.percentiles(mu)
        probs = self.tier_probabilities(mu, scale)
        # Whole-array work first, then plain Python values: per-row numpy calls (argmax,
        # float()) used to cost more than the trees themselves in bulk scoring.
        scores = np.round(100.0 * pct, 2).tolist()
        tiers = (np.argmax(probs, axis=1) + 1).tolist()
        version = self.meta.version
        return [
            MLPrediction(
                score=score,
                percentile=p,
                tier=tier,
                tier_probabilities=(pr[0], pr[1], pr[2], pr[3], pr[4]),
                predicted_log_views=m,
                model_version=version,
                contributions=contrib[i] if contrib is not None else {},
            )
            for i, (m, p, pr, score, tier) in enumerate(
                zip(mu.tolist(), pct.tolist(), probs.tolist(), scores, tiers, strict=True)
            )
        ]


def bundle_zip(path: Path | str) -> bytes:
    """The bundle directory as zip bytes (fixed order and timestamps: same files, same
    bytes), so a registry can hand it to any host."""
    root = Path(path)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in ARCHIVE_FILES:
            if (root / name).is_file():
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, (root / name).read_bytes())
    return buffer.getvalue()


def unzip_bundle(data: bytes, dest: Path | str) -> Path:
    """Write a ``bundle_zip`` into ``dest`` (only the bundle's own file names)."""
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in ARCHIVE_FILES:
                if name in archive.namelist():
                    (root / name).parent.mkdir(parents=True, exist_ok=True)
                    (root / name).write_bytes(archive.read(name))
    except zipfile.BadZipFile as exc:
        raise BundleError(f"not a bundle archive: {exc}") from exc
    return root


def load_stored(version: str, path: str | None, archive: bytes | None, cache_dir: Path
                ) -> ModelBundle:  # fmt: skip
    """A registered bundle: from ``path`` when it exists on this host, else from its zip,
    unpacked once under ``cache_dir/<version>``."""
    if path and (Path(path) / META_FILE).is_file():
        return ModelBundle.load(path)
    cached = cache_dir / version
    if (cached / META_FILE).is_file():
        return ModelBundle.load(cached)
    if archive is None:
        raise BundleError(f"model {version}: no bundle at {path} and no stored archive")
    return ModelBundle.load(unzip_bundle(archive, cached))


def default_bundle_path() -> Path | None:
    """The bundle shipped inside the package, or None when none is shipped."""
    root = resources.files("virtuna.engine") / "data" / "model"
    path = Path(str(root))
    return path if (path / META_FILE).is_file() and (path / MODEL_FILE).is_file() else None


def load_default_bundle() -> ModelBundle | None:
    """Load the shipped bundle once per caller; None when the package ships no model."""
    path = default_bundle_path()
    return None if path is None else ModelBundle.load(path)


__all__ = [
    "FALLBACK_SUFFIX",
    "FOLLOWERS_FEATURE",
    "FORMAT_VERSION",
    "BundleError",
    "BundleMeta",
    "FollowersPrior",
    "ModelBundle",
    "bundle_zip",
    "default_bundle_path",
    "load_default_bundle",
    "load_stored",
    "unzip_bundle",
]
