"""How the shipped bundle scores drafts whose creator is unknown, on real later videos.

Run: ``.venv/bin/python bench/no_creator.py [--data-dir ../shared/data/tiktok]
[--model DIR]``. The shipped main model never saw a row without followers; a draft from an
unknown creator is scored by the bundle's content-only model (``no_creator/``). This takes
each source's later 20 % (rows the bundle never trained on; >= 7 days old; without the
outcome-selected For-You feed rows), hides the creator (followers and history unknown), and
then also the fields a text draft usually lacks (duration, sound) and the trend statistics
an empty database lacks, and prints Spearman with
views, top-label ECE (15 bins) and NLL of the tier probabilities, the mean score and the
predicted-tier shares for each case, beside the same numbers
with the creator known. Prints a Markdown table; writes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from virtuna.engine.bundle import ModelBundle, default_bundle_path
from virtuna.engine.features import FEATURE_GROUPS, FEATURE_NAMES
from virtuna.training.dataset import Dataset, build_dataset
from virtuna.training.metrics import spearman, tier_metrics
from virtuna.training.records import read_many
from virtuna.training.train import UNKNOWN_ENCODING, FloatArray, later_fraction, outcome_sampled


def _later_rows(data_dir: Path) -> Dataset:
    ds = build_dataset(read_many(sorted(data_dir.glob("*/videos.jsonl.gz"))))
    ds = ds.subset(ds.eligible())
    ds = ds.subset(later_fraction(ds, 0.2))
    return ds.subset(~outcome_sampled(ds))


def _hide(X: FloatArray, fields: tuple[str, ...]) -> FloatArray:
    out = X.copy()
    for name in FEATURE_GROUPS["creator"]:
        out[:, FEATURE_NAMES.index(name)] = np.nan
    for field in fields:
        for feature, value in UNKNOWN_ENCODING[field].items():
            out[:, FEATURE_NAMES.index(feature)] = value
    return out


def _row(label: str, bundle: ModelBundle, X: FloatArray, ds: Dataset) -> str:
    predictions = bundle.predict_matrix(X)
    scores = np.asarray([p.score for p in predictions])
    probs = np.asarray([p.tier_probabilities for p in predictions])
    cutoffs = np.asarray(bundle.meta.tier_cutoffs, dtype=np.float64)
    metrics = tier_metrics(scores, probs, ds.y, cutoffs)
    tiers = np.bincount([p.tier for p in predictions], minlength=6)[1:] / len(predictions)
    per_source = " / ".join(
        f"{spearman(scores[ds.source == s], ds.y[ds.source == s]):.3f}"
        for s in np.unique(ds.source)
    )
    shares = " ".join(f"{t:.2f}" for t in tiers)
    return (f"| {label} | {len(scores):,} | {metrics['spearman']:.3f} | {per_source} | "
            f"{metrics['ece']:.3f} | {metrics['nll']:.3f} | {scores.mean():.1f} | "
            f"{shares} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data/tiktok"))
    parser.add_argument("--model", type=Path, default=default_bundle_path())
    args = parser.parse_args()
    bundle = ModelBundle.load(args.model)
    ds = _later_rows(args.data_dir)
    sources = " / ".join(str(s) for s in np.unique(ds.source))
    print(f"Bundle {bundle.version}; no-creator model "
          f"{bundle.fallback.version if bundle.fallback else 'none'}\n")  # fmt: skip
    print(f"| case | n | Spearman | per source ({sources}) | ECE | NLL | mean score | "
          "tier shares 1–5 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    print(_row("creator known (main model)", bundle, ds.X, ds))
    for fields, label in (((), "creator unknown"), (("duration",), "… and duration unknown"),
                          (("sound",), "… and sound unknown"),
                          (("duration", "sound"), "… and duration and sound unknown"),
                          (("trends",), "… and no trend snapshot"),
                          (("duration", "sound", "trends"), "… and all three")):  # fmt: skip
        print(_row(label, bundle, _hide(ds.X, fields), ds))


if __name__ == "__main__":
    main()
