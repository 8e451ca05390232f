"""The product's score, end to end, on real videos: fit the blend, then measure it.

Run: ``.venv/bin/python bench/blend.py [--data-dir ../shared/data/tiktok] [--work DIR]
[--install]``. Everything goes through the real CLI in a scratch data directory:

1. Each source's eligible rows (>= 7 days old at scrape) are ordered by create time. The
   later 20 % were never seen by the shipped model (trained with ``--holdout 0.2``); their
   first half is the *fit* window, the second half (each source's latest 10 %) the *test*
   window.
2. ``virtuna ingest`` loads every video created before the test window (the database a
   service would have had): the model's training years and the fit window.
3. ``virtuna analyze --file fit.jsonl --out …`` scores the fit window with the base weights;
   ``virtuna ml fit-blend`` fits the weights on those served scores and writes them into a
   copy of the bundle (``blend.json``).
4. ``virtuna analyze --file test.jsonl --out …`` scores the test window with the fitted
   weights; ``virtuna ml score-report`` gives Spearman(final score, views) beside the model
   alone and followers alone, per source.

``--install`` copies the fitted ``blend.json`` into the shipped bundle.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from virtuna.engine.blend import BLEND_FILE
from virtuna.engine.bundle import default_bundle_path
from virtuna.training.records import VideoRecord, read_many

REPO = Path(__file__).resolve().parents[1]
VIRTUNA = str(Path(sys.executable).parent / "virtuna")
HOLDOUT, TEST = 0.2, 0.1
NOTE = (
    "bench/blend.py: served scores (virtuna analyze --file) of each source's eligible rows "
    "between its latest 20 % and latest 10 % by create time; database = everything older"
)
# Nothing reaches a network service: LLM and scraper variables are cleared for the run.
CLEARED = ("GEMINI_API_KEY", "DEEPSEEK_API_KEY", "OPENAI_COMPAT_BASE_URL", "APIFY_TOKEN",
           "VIRTUNA_DATABASE_URL", "REDIS_URL")  # fmt: skip


def window_starts(records: list[VideoRecord], fraction: float) -> dict[str, datetime]:
    """Per source: the create time where its latest ``fraction`` of eligible rows starts
    (exactly ``training.service.holdout_later``'s cut)."""
    by_source: dict[str, list[datetime]] = defaultdict(list)
    for r in records:
        age = r.age_days()
        if age is None or age >= 7.0:
            by_source[r.source].append(r.draft.created_at)
    out = {}
    for source, times in by_source.items():
        times.sort()
        late = round(len(times) * fraction)
        out[source] = times[len(times) - late] if late else datetime.max.replace(tzinfo=UTC)
    return out


def raw_lines(files: list[Path]) -> dict[str, str]:
    lines: dict[str, str] = {}
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                lines.setdefault(str(json.loads(line)["id"]), line)
    return lines


def write_slices(records: list[VideoRecord], files: list[Path], work: Path) -> dict[str, Path]:
    holdout, test = window_starts(records, HOLDOUT), window_starts(records, TEST)
    lines = raw_lines(files)
    earlier: dict[str, list[str]] = defaultdict(list)
    fit, later = [], []
    for r in records:
        created = r.draft.created_at
        if created >= test[r.source]:
            later.append(lines[r.id])
        else:
            earlier[r.source].append(lines[r.id])
            if created >= holdout[r.source]:
                fit.append(lines[r.id])
    paths = {"fit": work / "fit.jsonl", "test": work / "test.jsonl"}
    paths["fit"].write_text("".join(fit), encoding="utf-8")
    paths["test"].write_text("".join(later), encoding="utf-8")
    for source, rows in earlier.items():
        # One folder per source: ingest labels videos with their folder's name.
        target = work / "earlier" / source / "videos.jsonl.gz"
        target.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(target, "wt", encoding="utf-8") as fh:
            fh.write("".join(rows))
        paths[f"earlier:{source}"] = target
    print(f"slices: earlier {sum(map(len, earlier.values())):,}, fit {len(fit):,}, "
          f"test {len(later):,} rows")  # fmt: skip
    return paths


def cli(env: dict[str, str], *args: str, out: Path | None = None) -> str:
    started = time.perf_counter()
    done = subprocess.run([VIRTUNA, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"virtuna {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    print(f"virtuna {' '.join(a if len(a) < 60 else '…' for a in args)}: "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    if out is not None:
        out.write_text(done.stdout, encoding="utf-8")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared/data/tiktok")
    parser.add_argument("--work", type=Path, default=Path("/tmp/virtuna-blend"))
    parser.add_argument("--install", action="store_true", help="Ship the fitted blend.json.")
    args = parser.parse_args()
    files = sorted(args.data_dir.glob("*/videos.jsonl.gz"))
    shipped = default_bundle_path()
    if shipped is None:
        raise SystemExit("no shipped bundle")
    shutil.rmtree(args.work, ignore_errors=True)
    model = args.work / "model"
    shutil.copytree(shipped, model)
    (model / BLEND_FILE).unlink(missing_ok=True)  # the fit window is scored with base weights
    paths = write_slices(read_many(files), files, args.work)
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env |= {"VIRTUNA_DATA_DIR": str(args.work / "var"), "VIRTUNA_MODEL_DIR": str(model),
            "LOG_LEVEL": "WARNING", "VIRTUNA_ENV": "local"}  # fmt: skip
    data = [a for f in files for a in ("--data", str(f))]
    earlier = [str(p) for k, p in paths.items() if k.startswith("earlier:")]
    cli(env, "ingest", *earlier, "--json")
    cli(env, "analyze", "--file", str(paths["fit"]), "--out", str(args.work / "fit.out.jsonl"),
        "--json")  # fmt: skip
    print(cli(env, "ml", "fit-blend", str(args.work / "fit.out.jsonl"), *data,
              "--model", str(model), "--note", NOTE))  # fmt: skip
    cli(env, "analyze", "--file", str(paths["test"]), "--out", str(args.work / "test.out.jsonl"),
        "--json")  # fmt: skip
    print("Test window (each source's latest 10 %, never seen by the model nor the fit):")
    print(cli(env, "ml", "score-report", str(args.work / "test.out.jsonl"), *data))
    cli(env, "ml", "score-report", str(args.work / "test.out.jsonl"), *data, "--json",
        out=args.work / "test-report.json")  # fmt: skip
    if args.install:
        shutil.copy(model / BLEND_FILE, shipped / BLEND_FILE)
        print(f"installed {shipped / BLEND_FILE}")


if __name__ == "__main__":
    main()
