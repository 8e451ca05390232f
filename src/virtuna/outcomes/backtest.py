"""Backtest: score historical scraper items as of their create time, compare with real views.

So calibration can be published before users report outcomes. Each item becomes the draft
its creator could have submitted (``predictions.drafts_file.draft_from_scraper_item``:
no outcome field is read) and goes through the same ``Engine`` the API serves, with the
point-in-time creator history and trend snapshot the database would have held: only
videos created at least 7 days earlier (``training.history``, the definitions serving
uses). Its real views, at least ``horizon_days`` after posting, give the observed tier.

Rows are evaluated only if the video was ≥ ``horizon_days`` old at scrape. By default only
each source's later ``holdout_fraction`` (by create time) is scored — the part the shipped
bundle never saw in training (its metadata records the fraction) — so the numbers are out
of sample. Backtest rows are never written to the database: they cannot reach the
production calibrator; ``trial`` shows what the gate would decide on them, and stores
nothing.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from virtuna.engine.bundle import ModelBundle
from virtuna.engine.calibrate import as_probs, metrics_report, observed_tiers
from virtuna.engine.calibrators import fit_with_gate
from virtuna.engine.pipeline import Engine, StageTimeouts
from virtuna.predictions.drafts_file import draft_from_scraper_item
from virtuna.predictions.model_reload import model_weights
from virtuna.training.dataset import sampling_group
from virtuna.training.history import creator_contexts, trend_snapshots
from virtuna.training.metrics import spearman
from virtuna.training.records import DatasetFormatError, VideoRecord, iter_items, record_from_item
from virtuna.training.records import source_name as file_source

Progress = Callable[[str], None]
CHUNK = 64  # drafts scored concurrently (the model runs in worker threads)
OFFLINE_STAGE_SECONDS = 600.0


@dataclass(frozen=True)
class Scored:
    id: str
    source: str
    group: str
    input_mode: str
    score: float
    probs: list[float] | None
    views: int
    created_at: float  # POSIX seconds (ordering only)


def load(paths: Sequence[Path]) -> tuple[list[dict[str, Any]], list[VideoRecord]]:
    """Items and their records, de-duplicated by id (first file wins)."""
    items: list[dict[str, Any]] = []
    records: list[VideoRecord] = []
    seen: set[str] = set()
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        source = file_source(path)
        for number, item in iter_items(path):
            try:
                rec = record_from_item(item, source)
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                raise DatasetFormatError(
                    f"{path}: line {number}: not a scraper item ({exc})"
                ) from exc
            if rec.id not in seen:
                seen.add(rec.id)
                items.append(item)
                records.append(rec)
    return items, records


def select(records: Sequence[VideoRecord], *, horizon_days: int, later_fraction: float,
           limit: int | None) -> list[int]:  # fmt: skip
    """Indices of rows old enough at scrape, each source's later fraction, time-ordered."""
    by_source: dict[str, list[int]] = defaultdict(list)
    for i, rec in enumerate(records):
        age = rec.age_days()
        if age is not None and age >= horizon_days:
            by_source[rec.source].append(i)
    chosen: list[int] = []
    for idx in by_source.values():
        idx.sort(key=lambda i: records[i].draft.created_at)
        keep = len(idx) if later_fraction >= 1 else int(round(len(idx) * later_fraction))
        chosen += idx[len(idx) - keep :]
    chosen.sort(key=lambda i: records[i].draft.created_at)
    if limit is not None and len(chosen) > limit:
        # An even spread over time, not the first N (which would be one source's oldest).
        chosen = [chosen[int(k)] for k in np.linspace(0, len(chosen) - 1, limit)]
    return chosen


async def score(engine: Engine, items: Sequence[dict[str, Any]], records: Sequence[VideoRecord],
                chosen: Sequence[int], progress: Progress) -> list[Scored]:  # fmt: skip
    progress(f"building point-in-time history for {len(records):,} videos")
    contexts, snapshots = creator_contexts(records), trend_snapshots(records)
    out: list[Scored] = []
    for start in range(0, len(chosen), CHUNK):
        batch = chosen[start : start + CHUNK]
        results = await asyncio.gather(*(
            engine.analyze(draft_from_scraper_item(items[i]), creator=contexts[i],
                           trends=snapshots[i], now=records[i].draft.created_at)
            for i in batch
        ))  # fmt: skip
        for i, result in zip(batch, results, strict=True):
            rec = records[i]
            out.append(Scored(rec.id, rec.source, sampling_group(rec), result.input_mode,
                              result.overall_score or 0.0, result.tier_probabilities,
                              rec.outcome.views, rec.draft.created_at.timestamp()))  # fmt: skip
        if (start // CHUNK) % 50 == 0:
            progress(f"scored {min(start + CHUNK, len(chosen)):,} of {len(chosen):,}")
    return out


def population(rows: Sequence[Scored], cutoffs: Sequence[float], reps: int) -> dict[str, Any]:
    usable = [r for r in rows if r.probs]
    probs = as_probs([r.probs or [] for r in usable]) if usable else np.zeros((0, 5))
    views = np.asarray([float(r.views) for r in usable])
    report = metrics_report(probs, observed_tiers(views, cutoffs), reps=reps)
    rho = spearman(np.asarray([r.score for r in usable]), np.log1p(views))
    report["spearman"] = None if np.isnan(rho) else rho
    return report


def populations(rows: Sequence[Scored]) -> dict[str, list[Scored]]:
    pops: dict[str, list[Scored]] = {"pooled": list(rows)}
    feed = [r for r in rows if r.group.endswith(":feed")]
    if feed:
        # For-You-feed rows were collected because they went viral (MODEL_CARD, "Sampling").
        pops["pooled (unbiased)"] = [r for r in rows if not r.group.endswith(":feed")]
    for label, key in (("source", "source"), ("group", "group"), ("input_mode", "input_mode")):
        for value in sorted({getattr(r, key) for r in rows}):
            if label == "group" and ":" not in value:
                continue  # a source with one group is already listed as a source
            pops[f"{label}:{value}"] = [r for r in rows if getattr(r, key) == value]
    return pops


def trial(rows: Sequence[Scored], cutoffs: Sequence[float]) -> dict[str, Any]:
    """What the activation gate would decide on these rows (reported, never stored)."""
    usable = sorted((r for r in rows if r.probs), key=lambda r: r.created_at)
    if not usable:
        return {"activate": False, "reason": "no tier probabilities"}
    probs = as_probs([r.probs or [] for r in usable])
    tiers = observed_tiers([float(r.views) for r in usable], cutoffs)
    decision = fit_with_gate(probs, tiers)
    return {"activate": decision.activate, "reason": decision.reason, "kind": decision.kind,
            "params": decision.params, "before": decision.before, "after": decision.after,
            "candidates": decision.candidates, "n_fit": decision.n_fit,
            "n_holdout": decision.n_holdout}  # fmt: skip


async def run(paths: Sequence[Path], *, bundle: ModelBundle, horizon_days: int = 7,
              later_fraction: float | None = None, limit: int | None = None, reps: int = 200,
              progress: Progress = lambda _: None) -> dict[str, Any]:  # fmt: skip
    """The backtest report: same metrics as the production report, per population."""
    fraction = later_fraction
    if fraction is None:
        fraction = float(bundle.meta.metrics.get("holdout_fraction") or 1.0)
    items, records = load(paths)
    chosen = select(records, horizon_days=horizon_days, later_fraction=fraction, limit=limit)
    progress(
        f"{len(chosen):,} of {len(records):,} videos selected "
        f"(≥ {horizon_days} days old at scrape, later {fraction:.0%} of each source)"
    )
    # Offline: a busy machine must not turn a queued model call into a missing signal.
    offline = StageTimeouts(trends=OFFLINE_STAGE_SECONDS, creator=OFFLINE_STAGE_SECONDS,
                            ml=OFFLINE_STAGE_SECONDS)  # fmt: skip
    # The product's score: the model's fitted blend weights, as a serving process uses them.
    engine = Engine(predictor=bundle, weights=model_weights(bundle), timeouts=offline)
    rows = await score(engine, items, records, chosen, progress)
    cutoffs = bundle.meta.tier_cutoffs
    return {
        "model_version": bundle.version,
        "horizon_days": horizon_days,
        "later_fraction": fraction,
        "files": [str(p) for p in paths],
        "rows": len(rows),
        "tier_cutoffs_views": [round(float(np.expm1(c))) for c in cutoffs],
        "populations": {
            name: population(members, cutoffs, reps) for name, members in populations(rows).items()
        },  # fmt: skip
        "trial": trial(rows, cutoffs),
    }
