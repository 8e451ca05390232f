"""``virtuna ml``: train and evaluate the pre-posting model.

Exit codes: 0 success; 1 runtime failure (unreadable data, training failed); 2 usage error
(missing file, conflicting options). Expected errors print one line, never a traceback.
Progress goes to stderr so ``--json`` output on stdout stays machine-readable.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import uuid
from pathlib import Path
from typing import Annotated, Any, NoReturn

import numpy as np
import typer
from pydantic import ValidationError
from rich.console import Console

from virtuna.config import Settings, get_settings
from virtuna.engine.blend import BLEND_FILE
from virtuna.engine.bundle import BundleError, ModelBundle
from virtuna.kit.startup import session_scope
from virtuna.models.ml import MLModel
from virtuna.training import registry
from virtuna.training.blend import blended, fit_blend, render_fit, render_report, score_report
from virtuna.training.evaluate import SplitResult
from virtuna.training.from_db import records_from_db
from virtuna.training.plots import confusion_image, reliability_image, write_png
from virtuna.training.records import DatasetFormatError, VideoRecord, records_sha256
from virtuna.training.report import render_markdown
from virtuna.training.scored import (
    ScoredFileError,
    ScoredRows,
    StoredAnalysis,
    join,
    read_scored,
    stored_analyses,
)
from virtuna.training.service import evaluate_records, load_files, train_bundle

app = typer.Typer(
    name="ml",
    help="Train and evaluate the pre-posting view model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_err = Console(stderr=True, soft_wrap=True)
_out = Console(soft_wrap=True)


def _fail(message: str, code: int = 1) -> NoReturn:
    _err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _progress(message: str) -> None:
    _err.print(f"[dim]•[/] {message}", highlight=False)


def _load(paths: list[Path]) -> tuple[list[VideoRecord], str]:
    try:
        records, digest = load_files(paths)
    except FileNotFoundError as exc:
        _fail(str(exc).strip("'\""), code=2)
    except DatasetFormatError as exc:
        _fail(str(exc), code=1)
    if not records:
        _fail("the given files hold no videos", code=1)
    return records, digest


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        _fail(f"invalid configuration: {exc.errors()[0]['msg']}", code=2)


def _load_db() -> tuple[list[VideoRecord], str]:
    settings = _settings()

    async def body() -> list[VideoRecord]:
        async with session_scope(settings) as session:
            return await records_from_db(session)

    records = asyncio.run(body())
    if not records:
        _fail("the database holds no scraped videos (run `virtuna ingest FILE...`)", code=1)
    _progress(f"read {len(records):,} videos from the database")
    return records, records_sha256(records)


def _default_out(version: str) -> Path:
    # The contract's VIRTUNA_DATA_DIR holds model bundles; read directly so training does
    # not depend on the service's settings object.
    return Path(os.environ.get("VIRTUNA_DATA_DIR", "./var")) / "models" / version


@app.command()
def train(
    data: Annotated[
        list[Path] | None, typer.Option("--data", help="Scraper item files (JSON/JSONL[.gz]).")
    ] = None,
    from_db: bool = typer.Option(False, "--from-db", help="Train on videos in the database."),
    out: Annotated[Path | None, typer.Option("--out", help="Bundle directory to write.")] = None,
    seed: int = typer.Option(42, "--seed", help="Random seed (training is deterministic)."),
    holdout: float = typer.Option(
        0.0,
        "--holdout",
        min=0.0,
        max=0.5,
        help="Leave out each source's later fraction (e.g. 0.2) for honest evaluation.",
    ),  # fmt: skip
) -> None:
    """Fit a model bundle on point-in-time pre-posting features."""
    if from_db and data:
        _fail("give either --data FILE... or --from-db, not both", code=2)
    if not data and not from_db:
        _fail("give --data FILE... (or --from-db)", code=2)
    records, digest = _load_db() if from_db else _load(data or [])
    try:
        bundle = train_bundle(records, seed=seed, holdout=holdout, data_sha256=digest,
                              progress=_progress)  # fmt: skip
    except ValueError as exc:
        _fail(f"training failed: {exc}", code=1)
    target = out or _default_out(bundle.version)
    bundle.save(target)
    _out.print(f"wrote {bundle.version} to {target}", highlight=False)


def _write_plots(splits: list[SplitResult], directory: Path) -> list[Path]:
    """Reliability diagram and confusion matrix of the time split's model, pooled."""
    metrics = next(s for s in splits if s.name == "time").rows["model"]["pooled"]
    directory.mkdir(parents=True, exist_ok=True)
    bins = metrics["reliability"]
    return [
        write_png(directory / "reliability.png", reliability_image(bins)),
        write_png(directory / "confusion.png", confusion_image(metrics["confusion"])),
    ]


@app.command()
def evaluate(
    files: Annotated[list[Path], typer.Argument(help="Scraper item files (JSON/JSONL[.gz]).")],
    model: Annotated[
        Path | None,
        typer.Option("--model", help="Bundle to score on the time split instead of a fresh fit."),
    ] = None,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    plot: Annotated[Path | None, typer.Option("--plot", help="Directory for PNG plots.")] = None,
    seed: int = typer.Option(42, "--seed", help="Random seed for the fitted models."),
) -> None:
    """Time, creator-disjoint and leave-one-source-out evaluation with baselines."""
    fixed = _load_bundle(model) if model is not None else None
    records, _ = _load(files)
    splits = evaluate_records(records, model=fixed, seed=seed, progress=_progress)
    if plot is not None:
        for path in _write_plots(splits, plot):
            _progress(f"wrote {path}")
    if as_json:
        payload = {s.name: {"description": s.description, "models": s.rows} for s in splits}
        sys.stdout.write(json.dumps(_finite(payload), default=_json_default) + "\n")
    else:
        sys.stdout.write(render_markdown(splits) + "\n")


def _scored_rows(scored: list[Path], data: list[Path]) -> tuple[ScoredRows, set[str]]:
    """Served scores joined with the stored analyses and the files' real views."""
    try:
        lines = read_scored(scored)
    except (OSError, ScoredFileError) as exc:
        _fail(str(exc), code=2)
    records, _ = _load(data)
    settings = _settings()

    async def body() -> dict[uuid.UUID, StoredAnalysis]:
        async with session_scope(settings) as session:
            return await stored_analyses(session, [aid for _, aid, _ in lines])

    stored = asyncio.run(body())
    rows = join(lines, stored, {r.id: r for r in records})
    if not len(rows):
        _fail("no scored line matches both a stored analysis and a video in --data", code=1)
    _progress(f"{len(rows):,} of {len(lines):,} scored videos joined with their analyses")
    return rows, {v for a in stored.values() if (v := a.model_version)}


ScoredFiles = Annotated[
    list[Path], typer.Argument(help="`virtuna analyze --file … --out` output of real videos.")
]
DataFiles = Annotated[
    list[Path], typer.Option("--data", help="The scraper files the videos came from (views).")
]


@app.command("fit-blend")
def fit_blend_command(
    scored: ScoredFiles,
    data: DataFiles,
    model: Annotated[
        Path | None, typer.Option("--model", help="Bundle to write blend.json into.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the blend here.")] = None,
    note: Annotated[
        str | None, typer.Option("--note", help="What the scored videos are (kept as evidence).")
    ] = None,
    as_json: bool = typer.Option(False, "--json", help="Print the fit as JSON."),
) -> None:
    """Fit the product score's blend weights on served scores of a later time window."""
    if model is None and out is None:
        _fail("give --model DIR (writes DIR/blend.json) or --out FILE", code=2)
    rows, versions = _scored_rows(scored, data)
    bundle = _load_bundle(model) if model is not None else None
    if bundle is not None and versions != {bundle.version}:
        _fail(f"the analyses were served by {sorted(versions)}, not {bundle.version}", code=2)
    version = bundle.version if bundle is not None else ",".join(sorted(versions))
    try:
        blend = fit_blend(rows, model_version=version,
                          description=note or ", ".join(p.name for p in scored))  # fmt: skip
    except ValueError as exc:
        _fail(f"cannot fit: {exc}", code=1)
    target = blend.save(out if out is not None else (model or Path()) / BLEND_FILE)
    fitted = blended(rows.signals, blend.weights().as_dict())
    report = score_report(rows, {"fitted blend": fitted})
    if as_json:
        payload = {"blend": blend.to_json(), "report": report, "written": str(target)}
        sys.stdout.write(json.dumps(_finite(payload)) + "\n")
        return
    sys.stdout.write(render_fit(blend) + "\n\n" + render_report(report) + "\n")
    _progress(f"wrote {target}")


@app.command("score-report")
def score_report_command(
    scored: ScoredFiles,
    data: DataFiles,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Spearman(score, views) of served scores: final vs model alone vs followers alone."""
    rows, _ = _scored_rows(scored, data)
    report = score_report(rows)
    if as_json:
        sys.stdout.write(json.dumps(_finite(report)) + "\n")
    else:
        sys.stdout.write(render_report(report) + "\n")


@app.command("models")
def models_command(
    as_json: bool = typer.Option(False, "--json", help="Print the registry as JSON."),
) -> None:
    """The model registry: every trained bundle, its gate result and status."""
    settings = _settings()

    async def body() -> list[dict[str, Any]]:
        async with session_scope(settings) as session:
            return [_registry_entry(m) for m in await registry.all_models(session)]

    entries = asyncio.run(body())
    if as_json:
        sys.stdout.write(json.dumps(_finite(entries), default=str) + "\n")
        return
    if not entries:
        _out.print("the registry is empty (the shipped bundle serves; run `virtuna jobs run "
                   "retrain-ml`)")  # fmt: skip
    for e in entries:
        gate = e["gate"] or {}
        verdict = f" gate: {gate.get('reason')}" if gate else ""
        _out.print(f"{e['status']:<10} {e['version']}  {e['data_source']} {e['data_rows']:,} rows"
                   f"{verdict}", highlight=False)  # fmt: skip


def _registry_entry(m: MLModel) -> dict[str, Any]:
    return {
        "version": m.version,
        "status": m.status,
        "data_source": m.data_source,
        "data_rows": m.data_rows,
        "created_at": m.created_at,
        "promoted_at": m.promoted_at,
        "retired_at": m.retired_at,
        "path": m.path,
        "gate": m.metrics.get("gate"),
    }


def _load_bundle(path: Path) -> ModelBundle:
    try:
        return ModelBundle.load(path)
    except BundleError as exc:
        _fail(str(exc), code=2)


def _finite(value: Any) -> Any:
    """NaN/inf (e.g. Spearman of a constant) become null: JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


__all__ = ["app"]
