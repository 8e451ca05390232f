"""Retraining with a promotion gate: the use case behind the ``retrain-ml`` job.

1. Dataset: the database's scraped videos (``from_db``); below ``ml_min_db_rows`` rows old
   enough to evaluate, the fallback files (``ml_fallback_data``), else nothing happens.
2. The registry's champion; an empty registry first records the bundle being served (the
   shipped one, or ``VIRTUNA_MODEL_DIR``) as champion, so there is always one to beat.
3. A challenger is fitted on everything *before* the most recent window (each source's
   latest ``TEST_FRACTION`` of eligible rows by create time); champion and challenger are
   then scored on that same window, against the champion's tier cut-offs.
4. The challenger is promoted unless it is worse by more than the tolerance on Spearman or
   on macro-F1. Either way its bundle and registry row stay (a failed gate deletes
   nothing); serving processes pick a new champion up by themselves (hot reload).

Re-running on the same data with the same seed is a no-op (the job may be delivered twice).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from virtuna.config import Settings
from virtuna.engine.bundle import (
    ModelBundle,
    default_bundle_path,
    load_default_bundle,
    load_stored,
)
from virtuna.kit.db import unit_of_work
from virtuna.models.ml import CHALLENGER, CHAMPION, MLModel
from virtuna.training import registry
from virtuna.training.dataset import Dataset, build_dataset
from virtuna.training.evaluate import TEST_FRACTION
from virtuna.training.from_db import records_from_db
from virtuna.training.metrics import spearman, tier_metrics
from virtuna.training.records import VideoRecord, files_sha256, read_many, records_sha256
from virtuna.training.service import holdout_later
from virtuna.training.train import TrainConfig, fit, later_fraction, outcome_sampled

GATE_METRICS = ("spearman", "macro_f1")
# Gated when either model has it: the content-only model's ranking of the window with the
# creator hidden (``bench/no_creator.py``'s "creator unknown" row).
OPTIONAL_GATE_METRICS = ("no_creator_spearman",)
Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class RetrainConfig:
    min_db_rows: int
    fallback_data: tuple[Path, ...]
    tolerance: float
    models_dir: Path
    served_dir: Path | None = None  # VIRTUNA_MODEL_DIR: the bundle served without a registry
    train: TrainConfig = field(default_factory=TrainConfig)

    @classmethod
    def from_settings(cls, settings: Settings, *, seed: int = 42) -> RetrainConfig:
        return cls(
            min_db_rows=settings.ml_min_db_rows,
            fallback_data=tuple(settings.ml_fallback_data),
            tolerance=settings.ml_promotion_tolerance,
            models_dir=settings.data_dir / "models",
            served_dir=settings.model_dir,
            train=replace(TrainConfig(), seed=seed, no_creator_fallback=True),
        )


@dataclass(frozen=True)
class TrainingData:
    records: list[VideoRecord]
    source: str  # "db" or "files"
    sha256: str


def eligible_rows(records: Sequence[VideoRecord]) -> int:
    """Rows old enough at scrape for their views to count (the fitting population)."""
    return sum(1 for r in records if (age := r.age_days()) is None or age >= 7.0)


async def training_data(session: AsyncSession, config: RetrainConfig) -> TrainingData | str:
    """The dataset to train on, or why there is none."""
    records = await records_from_db(session)
    have = eligible_rows(records)
    if have >= config.min_db_rows:
        return TrainingData(records, "db", records_sha256(records))
    if not config.fallback_data:
        return (f"{have} eligible rows in the database (< VIRTUNA_ML_MIN_DB_ROWS="
                f"{config.min_db_rows}) and no VIRTUNA_ML_FALLBACK_DATA")  # fmt: skip
    missing = [str(p) for p in config.fallback_data if not p.is_file()]
    if missing:
        return f"VIRTUNA_ML_FALLBACK_DATA: no such file: {', '.join(missing)}"
    paths = list(config.fallback_data)
    return TrainingData(read_many(paths), "files", files_sha256(paths))


def window_metrics(bundle: ModelBundle, test: Dataset, cutoffs: np.ndarray) -> dict[str, Any]:
    """The gate's numbers for one model on the window, against the given tier cut-offs."""
    idx = [test.feature_names.index(f) for f in bundle.meta.feature_names]
    X = np.ascontiguousarray(test.X[:, idx])
    mu = bundle.predict_log_views(X)
    probs = bundle.tier_probabilities(mu, bundle.predict_scale(X), cutoffs)
    m = tier_metrics(bundle.percentiles(mu), probs, test.y, cutoffs)
    out = {k: m[k] for k in ("n", "spearman", "macro_f1", "auc_tier5", "accuracy", "ece")}
    if bundle.fallback is not None:
        content = bundle.fallback
        cols = [test.feature_names.index(f) for f in content.meta.feature_names]
        X = np.ascontiguousarray(test.X[:, cols])
        out["no_creator_spearman"] = spearman(content.predict_log_views(X), test.y)
    return out


def gate(champion: dict[str, Any], challenger: dict[str, Any], tolerance: float
         ) -> tuple[bool, str]:  # fmt: skip
    """Promote unless the challenger is worse by more than ``tolerance`` on any gate metric."""
    for name in GATE_METRICS + OPTIONAL_GATE_METRICS:
        ours, theirs = challenger.get(name), champion.get(name)
        if name in OPTIONAL_GATE_METRICS and ours is None and theirs is None:
            continue
        if ours is None or not math.isfinite(ours):
            return False, f"challenger {name} is undefined on the window"
        if theirs is not None and math.isfinite(theirs) and ours < theirs - tolerance:
            return False, f"{name} {ours:.4f} < champion {theirs:.4f} - {tolerance:g}"
    gated = [n for n in GATE_METRICS + OPTIONAL_GATE_METRICS if n in challenger]
    return True, "not worse than the champion beyond the tolerance on " + ", ".join(gated)


@dataclass
class Challenge:
    bundle: ModelBundle
    gate: dict[str, Any]
    promote: bool


def challenge(data: TrainingData, champion: ModelBundle, config: RetrainConfig,
              progress: Progress = _quiet) -> Challenge:  # fmt: skip
    """CPU part: features, fit on the past, score both models on the most recent window."""
    progress(f"building point-in-time features for {len(data.records):,} videos")
    ds = build_dataset(data.records)
    fit_rows = ds.subset(ds.eligible())
    window = fit_rows.subset(later_fraction(fit_rows, TEST_FRACTION))
    window = window.subset(~outcome_sampled(window))  # the population models are fitted on
    progress(f"fitting the challenger on rows before the latest {TEST_FRACTION:.0%}")
    bundle = fit(holdout_later(ds, TEST_FRACTION), config.train, data_sha256=data.sha256)
    cutoffs = np.asarray(champion.meta.tier_cutoffs, dtype=np.float64)
    scores = {
        "champion": window_metrics(champion, window, cutoffs),
        "challenger": window_metrics(bundle, window, cutoffs),
    }
    passed, reason = gate(scores["champion"], scores["challenger"], config.tolerance)
    decision = {
        **scores,
        "champion_version": champion.version,
        "tolerance": config.tolerance,
        "window_rows": len(window),
        "promoted": passed,
        "reason": reason,
    }
    if champion.blend is not None:
        # Blend weights are measured per model; until `virtuna ml fit-blend` measures this
        # one, it keeps its predecessor's, and says so.
        evidence = {**champion.blend.evidence, "inherited_from": champion.version}
        bundle.blend = replace(champion.blend, evidence=evidence)
    return Challenge(bundle=bundle, gate=decision, promote=passed)


def _served_bundle(config: RetrainConfig) -> tuple[ModelBundle, Path] | None:
    if config.served_dir is not None:
        return ModelBundle.load(config.served_dir), config.served_dir
    path, bundle = default_bundle_path(), load_default_bundle()
    return None if path is None or bundle is None else (bundle, path)


async def ensure_champion(session: AsyncSession, config: RetrainConfig) -> MLModel | None:
    """The registry's champion; an empty registry first records the served bundle."""
    current = await registry.champion(session)
    if current is not None:
        return current
    served = _served_bundle(config)
    if served is None:
        return None
    bundle, path = served
    known = await registry.get(session, bundle.version)
    if known is not None:  # retired earlier, served again by configuration
        await registry.promote(session, known)
        return known
    return await registry.add(session, bundle, path=path, status=CHAMPION, data_source="shipped",
                              data_rows=int(bundle.meta.metrics.get("train_rows", 0)),
                              metrics={"training": bundle.meta.metrics})  # fmt: skip


def load_registered(row: MLModel, cache_dir: Path) -> ModelBundle:
    return load_stored(row.version, row.path, row.bundle_zip, cache_dir)


async def retrain(sessions: async_sessionmaker[AsyncSession], config: RetrainConfig,
                  progress: Progress = _quiet) -> dict[str, Any]:  # fmt: skip
    """Train, gate, record; returns what happened (the job's result)."""
    async with unit_of_work(sessions) as session:
        data = await training_data(session, config)
        if isinstance(data, str):
            return {"status": "skipped", "reason": data}
        done = await registry.trained_on(session, data_sha256=data.sha256, seed=config.train.seed)
        if done is not None:
            return {"status": "unchanged", "version": done.version, "model_status": done.status}
        current = await ensure_champion(session, config)
    champion = None if current is None else load_registered(current, config.models_dir)
    if champion is None:
        return {"status": "skipped", "reason": "no champion to compare with (no bundle served)"}
    result = await asyncio.to_thread(challenge, data, champion, config, progress)
    path = result.bundle.save(config.models_dir / result.bundle.version)
    metrics = {"training": result.bundle.meta.metrics, "gate": result.gate,
               "seed": config.train.seed}  # fmt: skip
    async with unit_of_work(sessions) as session:
        row = await registry.add(session, result.bundle, path=path, status=CHALLENGER,
                                 data_source=data.source, data_rows=len(data.records),
                                 metrics=metrics)  # fmt: skip
        if result.promote:
            await registry.promote(session, row)
    return {
        "status": "promoted" if result.promote else "kept_champion",
        "challenger": result.bundle.version,
        "champion": result.bundle.version if result.promote else champion.version,
        "data_source": data.source,
        "rows": len(data.records),
        "gate": result.gate,
    }
