"""A model bundle's metadata (``bundle.json``) and its followers prior.

Kept apart from ``virtuna.engine.bundle`` (loading and prediction) so each module stays
small; ``virtuna.engine.bundle`` re-exports every name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FORMAT_VERSION = 1
FOLLOWERS_FEATURE = "log_followers"
# The no-creator model's version: the main version with this suffix (see ``bundle``).
FALLBACK_SUFFIX = "+no-creator"
FloatArray = npt.NDArray[np.float64]


class BundleError(RuntimeError):
    """A bundle directory that is missing, incomplete or of an unknown format."""


@dataclass(frozen=True)
class FollowersPrior:
    """Shrinks predicted log-views toward a followers-only line:
    ``(1 - alpha) * mu + alpha * (intercept + slope * log_followers)`` where followers are
    known. ``alpha`` is chosen at training time by leave-one-source-out inside the
    training data (``virtuna.training.shrink``): how far a model must lean on followers
    to stay at least as good as followers alone on a source it never saw."""

    alpha: float
    intercept: float
    slope: float
    center: float  # mean log followers of the fitted rows (baseline of its contribution)

    def apply(self, mu: FloatArray, log_followers: FloatArray) -> FloatArray:
        line = self.intercept + self.slope * np.nan_to_num(log_followers, nan=self.center)
        shrunk = (1.0 - self.alpha) * mu + self.alpha * line
        return np.asarray(np.where(np.isfinite(log_followers), shrunk, mu), dtype=np.float64)

    def to_json(self) -> dict[str, float]:
        return {
            "alpha": self.alpha,
            "intercept": self.intercept,
            "slope": self.slope,
            "center": self.center,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> FollowersPrior | None:
        if not raw:
            return None
        return cls(*(float(raw[k]) for k in ("alpha", "intercept", "slope", "center")))


@dataclass(frozen=True)
class BundleMeta:
    version: str
    feature_names: tuple[str, ...]
    tier_cutoffs: tuple[float, float, float, float]  # log1p(views) at p25, p50, p75, p90
    target_quantiles: tuple[float, ...]  # log1p(views) at evenly spaced levels 0..1
    z_quantiles: tuple[float, ...]  # standardised residual at evenly spaced levels 0..1
    min_scale: float  # floor of s(x): keeps probabilities finite where s(x) is tiny
    created_at: str
    data_sha256: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    libraries: dict[str, str] = field(default_factory=dict)
    followers_prior: FollowersPrior | None = None
    format_version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "version": self.version,
            "created_at": self.created_at,
            "feature_names": list(self.feature_names),
            "tier_cutoffs": list(self.tier_cutoffs),
            "target_quantiles": list(self.target_quantiles),
            "z_quantiles": list(self.z_quantiles),
            "min_scale": self.min_scale,
            "data_sha256": self.data_sha256,
            "metrics": self.metrics,
            "params": self.params,
            "libraries": self.libraries,
            "followers_prior": self.followers_prior.to_json() if self.followers_prior else None,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> BundleMeta:
        if raw.get("format_version") != FORMAT_VERSION:
            raise BundleError(f"unsupported bundle format {raw.get('format_version')!r}")
        cutoffs = tuple(float(c) for c in raw["tier_cutoffs"])
        if len(cutoffs) != 4:
            raise BundleError("tier_cutoffs must hold 4 values")
        return cls(
            version=str(raw["version"]),
            feature_names=tuple(raw["feature_names"]),
            tier_cutoffs=(cutoffs[0], cutoffs[1], cutoffs[2], cutoffs[3]),
            target_quantiles=tuple(float(q) for q in raw["target_quantiles"]),
            z_quantiles=tuple(float(q) for q in raw["z_quantiles"]),
            min_scale=float(raw["min_scale"]),
            created_at=str(raw["created_at"]),
            data_sha256=str(raw.get("data_sha256", "")),
            metrics=dict(raw.get("metrics", {})),
            params=dict(raw.get("params", {})),
            libraries=dict(raw.get("libraries", {})),
            followers_prior=FollowersPrior.from_json(raw.get("followers_prior")),
        )
