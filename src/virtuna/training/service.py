"""Use cases behind ``virtuna ml``: records in, bundle or report out.

Records come from files or from the database (``training.from_db``); the CLI and the
retrain job (``training.retrain``) share these functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from virtuna.engine.bundle import ModelBundle
from virtuna.training.dataset import Dataset, build_dataset
from virtuna.training.evaluate import TEST_FRACTION, SplitResult, evaluate
from virtuna.training.records import VideoRecord, files_sha256, read_many, records_sha256
from virtuna.training.train import TrainConfig, fit, later_fraction

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def load_files(paths: Sequence[Path]) -> tuple[list[VideoRecord], str]:
    """Records of ``paths`` and the sha256 identifying them."""
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
    return read_many(paths), files_sha256(paths)


def holdout_later(ds: Dataset, fraction: float) -> Dataset:
    """Drop each source's later ``fraction`` (of the rows old enough to evaluate)."""
    if fraction <= 0:
        return ds
    eligible = ds.eligible()
    late = np.zeros(len(ds), dtype=bool)
    late[np.flatnonzero(eligible)] = later_fraction(ds.subset(eligible), fraction)
    # Younger-than-7-days rows are never fitted anyway; the later slice must stay unseen.
    cutoff = {s: ds.created[late & (ds.source == s)].min(initial=np.inf)
              for s in np.unique(ds.source)}  # fmt: skip
    keep = np.asarray([c < cutoff[s] for s, c in zip(ds.source, ds.created, strict=True)])
    return ds.subset(keep)


def train_bundle(records: Sequence[VideoRecord], *, seed: int = 42, holdout: float = 0.0,
                 data_sha256: str | None = None, out: Path | None = None,
                 progress: Progress = _quiet) -> ModelBundle:  # fmt: skip
    """Build point-in-time features, fit, and (with ``out``) write the bundle."""
    progress(f"building point-in-time features for {len(records):,} videos")
    ds = build_dataset(records)
    if holdout > 0:
        ds = holdout_later(ds, holdout)
        progress(f"holding out each source's later {holdout:.0%}: {len(ds):,} rows remain")
    progress("fitting LightGBM (early stopping on the later validation slice)")
    bundle = fit(ds, replace(TrainConfig(), seed=seed, no_creator_fallback=True),
                 data_sha256=data_sha256 or records_sha256(records))  # fmt: skip
    bundle.meta.metrics["holdout_fraction"] = holdout
    if out is not None:
        bundle.save(out)
        progress(f"wrote bundle {bundle.version} to {out}")
    return bundle


def evaluate_records(records: Sequence[VideoRecord], *, model: ModelBundle | None = None,
                     seed: int = 42, progress: Progress = _quiet) -> list[SplitResult]:  # fmt: skip
    progress(f"building point-in-time features for {len(records):,} videos")
    ds = build_dataset(records)
    return evaluate(ds, config=replace(TrainConfig(), seed=seed), model=model,
                    progress=progress)  # fmt: skip


__all__ = ["TEST_FRACTION", "evaluate_records", "holdout_later", "load_files", "train_bundle"]
