"""Human-readable rendering of analysis results for the terminal."""

from __future__ import annotations

from rich.table import Table

from virtuna.cli.common import out
from virtuna.predictions.schemas import AnalysisRead, RankedAnalysis


def _signals_table(result: AnalysisRead) -> Table:
    signals = Table(title="Signals", show_edge=False)
    for column in ("signal", "available", "score", "weight", "note"):
        signals.add_column(column)
    for name, signal in result.signals.items():
        signals.add_row(
            name,
            "yes" if signal.available else "no",
            "-" if signal.score is None else f"{signal.score:.1f}",
            f"{signal.weight:.3f}",
            signal.detail or "",
        )
    return signals


def print_report(result: AnalysisRead) -> None:
    score = "n/a" if result.overall_score is None else f"{result.overall_score:.1f}"
    out.print(
        f"[bold]Score {score}/100[/] — tier {result.tier} ({result.tier_label})", highlight=False
    )
    out.print(
        f"Confidence {result.confidence_label} ({result.confidence:.2f})"
        f"{'' if result.is_calibrated else ', uncalibrated'}"
    )
    if result.tier_probabilities:
        probs = "  ".join(f"T{i + 1} {p:.0%}" for i, p in enumerate(result.tier_probabilities))
        out.print(f"Tier probabilities: {probs}")
    out.print(_signals_table(result))
    out.print("[bold]Factors[/]")
    for factor in result.factors:
        value = "n/a" if factor.score is None else f"{factor.score:.1f}/10"
        out.print(f"  • {factor.name}: {value} — {factor.reason}", highlight=False)
    if result.suggestions:
        out.print("[bold]Suggestions[/]")
        for suggestion in result.suggestions:
            out.print(
                f"  • ({suggestion.priority}) {suggestion.text}", highlight=False, markup=False
            )
    if result.matched_trends:
        names = ", ".join(f"{t.kind}:{t.name}" for t in result.matched_trends)
        out.print(f"Matched trends: {names}", highlight=False)
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/] {warning}", highlight=False)
    out.print(
        f"id {result.id} · engine {result.engine_version} · model {result.model_version or 'none'}"
        f" · {result.latency_ms:.0f} ms · {result.cost_cents:.4f}¢",
        highlight=False,
    )


def print_ranking(ranked: list[tuple[str, RankedAnalysis]], limit: int = 20) -> None:
    table = Table(
        title=f"Ranking (top {min(limit, len(ranked))} of {len(ranked)})", show_edge=False
    )
    for column in ("rank", "id", "score", "tier", "confidence", "≈next"):
        table.add_column(column)
    for ident, item in ranked[:limit]:
        a = item.analysis
        noise = {True: "yes", False: "no", None: "?"}[item.within_noise_of_next]
        table.add_row(
            str(item.rank),
            ident,
            f"{a.overall_score or 0:.1f}",
            str(a.tier),
            a.confidence_label,
            noise,
        )
    out.print(table)
