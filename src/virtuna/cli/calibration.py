"""``virtuna calibration``: how well the tier probabilities match what really happened.

``report`` reads production predictions joined with their outcomes (the database);
``backtest`` scores historical scraper items as of their create time (no database).
Progress goes to stderr so ``--json`` on stdout stays machine-readable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from virtuna.cli.common import (
    err,
    fail,
    out,
    print_json,
    quiet_engine_logs,
    run,
    settings_or_exit,
)
from virtuna.config import Settings
from virtuna.engine.bundle import BundleError, ModelBundle
from virtuna.kit.startup import session_scope
from virtuna.outcomes import backtest as backtest_service
from virtuna.outcomes import calibration as calibration_service
from virtuna.outcomes.tasks import tier_reference
from virtuna.predictions.engine_factory import load_predictor
from virtuna.training.plots import reliability_image, write_png
from virtuna.training.records import DatasetFormatError

app = typer.Typer(
    name="calibration",
    help="Calibration of the tier probabilities against real outcomes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
PlotOption = Annotated[
    Path | None,
    typer.Option("--plot", help="Write the pooled reliability diagram to this PNG file."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")]


def _fmt(metric: dict[str, Any]) -> str:
    ci = metric.get("ci95")
    value = f"{metric['value']:.3f}"
    return f"{value} [{ci[0]:.3f}–{ci[1]:.3f}]" if ci else value


def _table(title: str, populations: dict[str, dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("population", "n", "ECE top-15 [95% CI]", "ECE tier-5 (10)", "Brier",
                   "NLL [95% CI]", "Spearman"):  # fmt: skip
        table.add_column(column, justify="left" if column == "population" else "right")
    for name, rep in populations.items():
        m = rep["metrics"]
        rho = rep.get("spearman")
        table.add_row(name, str(rep["n"]), _fmt(m["ece_top_15"]),
                      f"{m['ece_tier5_10']['value']:.3f}", f"{m['brier']['value']:.3f}",
                      _fmt(m["nll"]), "–" if rho is None else f"{rho:.3f}")  # fmt: skip
    return table


def _plot(path: Path, population: dict[str, Any]) -> None:
    bins = [(b["mean_confidence"], b["observed_rate"], b["count"])
            for b in population["reliability"]["top_label_15"]]  # fmt: skip
    try:
        write_png(path, reliability_image(bins))
    except OSError as exc:
        fail(f"cannot write {path}: {exc}", code=1)
    err.print(f"[dim]•[/] reliability diagram written to {path}", highlight=False)


@app.command()
def report(as_json: JsonOption = False, plot: PlotOption = None) -> None:
    """Calibration of production predictions joined with outcomes at the horizon."""
    settings = settings_or_exit()
    tiers = tier_reference(settings)
    if tiers is None:
        fail("no model bundle loaded: there are no tier probabilities to calibrate", code=1)

    async def body() -> dict[str, Any]:
        async with session_scope(settings) as session:
            return await calibration_service.production_report(
                session, tiers=tiers, horizon_days=settings.calibration_horizon_days
            )

    result = run(body)
    if plot is not None:
        _plot(plot, result["pooled"])
    if as_json:
        print_json(result)
        return
    pops = {"pooled": result["pooled"]} | {
        f"{g['engine_version']} / {g['input_mode']}": g["raw"] for g in result["groups"]
    }
    out.print(_table(f"Production calibration at {result['horizon_days']} days "
                     f"(model {result['model_version']}, raw probabilities)", pops))  # fmt: skip
    out.print(f"joined rows {result['joined_rows']}, awaiting the horizon "
              f"{result['awaiting_horizon']}, active calibrators "
              f"{len(result['active_calibrators'])}")  # fmt: skip


def _bundle_or_exit(settings: Settings) -> ModelBundle:
    """The serving model bundle; a clear message when there is none to calibrate."""
    try:
        bundle = load_predictor(settings)
    except BundleError as exc:
        fail(str(exc), code=1)
    if not isinstance(bundle, ModelBundle):
        fail("no model bundle loaded: there are no tier probabilities to calibrate", code=1)
    return bundle


_Files = Annotated[list[Path], typer.Argument(help="Scraper item files (JSON/JSONL[.gz]).")]
_LaterFraction = Annotated[
    float | None,
    typer.Option(
        "--later-fraction",
        min=0.01,
        max=1.0,
        help="Score each source's later fraction (default: the bundle's holdout).",
    ),
]
_Limit = Annotated[
    int | None, typer.Option("--limit", min=1, help="Score at most N rows, spread in time.")
]


@app.command()
def backtest(
    files: _Files,
    as_json: JsonOption = False,
    plot: PlotOption = None,
    later_fraction: _LaterFraction = None,
    limit: _Limit = None,
) -> None:
    """Score historical scraper items as of their create time; compare with real views."""
    settings = settings_or_exit()
    bundle = _bundle_or_exit(settings)

    def progress(message: str) -> None:
        err.print(f"[dim]•[/] {message}", highlight=False)

    async def body() -> dict[str, Any]:
        return await backtest_service.run(
            files, bundle=bundle, horizon_days=settings.calibration_horizon_days,
            later_fraction=later_fraction, limit=limit, progress=progress,
        )  # fmt: skip

    try:
        with quiet_engine_logs():
            result = run(body)
    except FileNotFoundError as exc:
        fail(str(exc).strip("'\""), code=2)
    except DatasetFormatError as exc:
        fail(str(exc), code=1)
    if plot is not None:
        _plot(plot, result["populations"]["pooled"])
    if as_json:
        print_json(result)
        return
    title = (f"Backtest of {result['model_version']}: {result['rows']:,} videos, later "
             f"{result['later_fraction']:.0%} of each source, views ≥ "
             f"{result['horizon_days']} days after posting")  # fmt: skip
    out.print(_table(title, result["populations"]))
    trial = result["trial"]
    out.print(f"calibrator trial (not stored): {trial['reason']}")
