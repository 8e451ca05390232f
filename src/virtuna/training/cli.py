"""``virtuna ml``: train and evaluate the pre-posting model.

Exit codes: 0 success; 1 runtime failure (unreadable data, training failed); 2 usage error
(missing file, conflicting options). Expected errors print one line, never a traceback.
Progress goes to stderr so ``--json`` output on stdout stays machine-readable.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import numpy as np
import typer
from rich.console import Console

from virtuna.engine.bundle import BundleError, ModelBundle
from virtuna.training.evaluate import SplitResult
from virtuna.training.plots import confusion_image, reliability_image, write_png
from virtuna.training.records import DatasetFormatError, VideoRecord
from virtuna.training.report import render_markdown
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
    if from_db:
        _fail("--from-db is not available yet: ingest is not implemented", code=1)
    if not data:
        _fail("give --data FILE... (or --from-db)", code=2)
    records, digest = _load(data)
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
    fixed = None
    if model is not None:
        try:
            fixed = ModelBundle.load(model)
        except BundleError as exc:
            _fail(str(exc), code=2)
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
