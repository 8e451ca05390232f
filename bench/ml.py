"""ML benchmarks: training time per 100K rows, single-row latency, bulk scoring throughput.

Run: ``.venv/bin/python bench/ml.py [--data-dir ../shared/data/tiktok] [--no-write]``.
Prints the figures and appends a section to BENCHMARKS.md (repo root) with the machine.
Rows for the training figure are resampled (with replacement) from the real shared data.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from virtuna.engine.bundle import ModelBundle, load_default_bundle
from virtuna.training.dataset import build_dataset, build_inputs
from virtuna.training.records import VideoRecord, read_many
from virtuna.training.train import TrainConfig, fit

REPO = Path(__file__).resolve().parents[1]
TRAIN_ROWS = 100_000


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def training_seconds(records: list[VideoRecord]) -> tuple[float, float]:
    """(feature building, fitting) seconds, both scaled to TRAIN_ROWS rows."""
    t0 = time.perf_counter()
    ds = build_dataset(records)
    features_s = (time.perf_counter() - t0) * TRAIN_ROWS / len(records)
    rows = np.random.default_rng(0).integers(0, len(ds), TRAIN_ROWS)
    t0 = time.perf_counter()
    fit(ds.subset(rows), TrainConfig())
    return features_s, time.perf_counter() - t0


def serving(bundle: ModelBundle, records: list[VideoRecord]) -> dict[str, float]:
    """Single-row latency percentiles (ms) and bulk throughputs (rows/s)."""
    inputs = build_inputs(records[-20_000:])
    for inp in inputs[:200]:  # warm-up: first calls pay for lazy initialisation
        bundle.predict(inp)
    single = []
    for inp in inputs[:5_000]:
        t0 = time.perf_counter()
        bundle.predict(inp)
        single.append(time.perf_counter() - t0)
    cuts = statistics.quantiles(single, n=100)
    t0 = time.perf_counter()
    bundle.predict_many(inputs)
    bulk = len(inputs) / (time.perf_counter() - t0)
    X = bundle.matrix(inputs)
    t0 = time.perf_counter()
    bundle.predict_matrix(X)
    matrix = len(inputs) / (time.perf_counter() - t0)
    return {"p50": cuts[49] * 1e3, "p99": cuts[98] * 1e3, "bulk": bulk, "matrix": matrix}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared/data/tiktok")
    parser.add_argument("--no-write", action="store_true", help="Do not touch BENCHMARKS.md.")
    args = parser.parse_args()
    bundle = load_default_bundle()
    if bundle is None:
        raise SystemExit("no shipped bundle: run `virtuna ml train` first")
    records = read_many(sorted(args.data_dir.glob("*/videos.jsonl.gz")))
    features_s, fit_s = training_seconds(records)
    s = serving(bundle, records)
    lines = [
        f"## ML ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, bundle {bundle.version})",
        "",
        f"Machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}, Python "
        f"{platform.python_version()}, {platform.system()} {platform.machine()}.",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| point-in-time features per 100K rows | {features_s:.1f} s | – |",
        f"| LightGBM fit per 100K rows (resampled real rows, early stopping) | {fit_s:.1f} s | – |",
        f"| training total per 100K rows | {features_s + fit_s:.1f} s | – |",
        f"| single-row `predict` p50 / p99 (features + model) | {s['p50']:.3f} / "
        f"{s['p99']:.3f} ms | p99 ≤ 1 ms |",
        f"| bulk `predict_many` (features + model) | {s['bulk']:,.0f} rows/s | ≥ 20,000 rows/s |",
        f"| bulk `predict_matrix` (model only) | {s['matrix']:,.0f} rows/s | – |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        path = REPO / "BENCHMARKS.md"
        existing = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
        path.write_text(existing.rstrip("\n") + "\n\n" + text, encoding="utf-8")


if __name__ == "__main__":
    main()
