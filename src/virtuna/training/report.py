"""Markdown rendering of evaluation results (pasted verbatim into docs/MODEL_CARD.md)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from virtuna.training.evaluate import SplitResult

_COLUMNS = (
    ("n", "n"),
    ("spearman", "Spearman"),
    ("auc_tier5", "AUC t5"),
    ("accuracy", "acc"),
    ("adjacent_accuracy", "adj acc"),
    ("macro_f1", "macro-F1"),
    ("qwk", "QWK"),
    ("ece", "ECE"),
    ("nll", "NLL"),
)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, int):
        return str(value)
    return f"{value:.3f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _split_table(split: SplitResult) -> list[str]:
    """One row per (population, model): the protocol's full metric set."""
    populations: list[str] = []
    for per_pop in split.rows.values():
        populations += [p for p in per_pop if p not in populations]
    rows = []
    for pop in populations:
        for model in ("model", "followers only", "content only (no creator)"):
            metrics = split.rows.get(model, {}).get(pop)
            if metrics is not None:
                rows.append([pop, model] + [_fmt(metrics[k]) for k, _ in _COLUMNS])
    return _table(["population", "model"] + [label for _, label in _COLUMNS], rows)


def _ablation_table(split: SplitResult) -> list[str]:
    pops = ("pooled (unbiased)", "pooled")
    rows = []
    for model, per_pop in split.rows.items():
        pop = next((p for p in pops if p in per_pop), None)
        if pop is None:
            continue
        m = per_pop[pop]
        rows.append([model, pop, _fmt(m["spearman"]), _fmt(m["macro_f1"]), _fmt(m["ece"]),
                     _fmt(m["nll"])])  # fmt: skip
    return _table(["model", "population", "Spearman", "macro-F1", "ECE", "NLL"], rows)


def _per_class(split: SplitResult) -> list[str]:
    m = split.rows.get("model", {}).get("pooled")
    if m is None:
        return []
    rows = [[str(t + 1), _fmt(m["true_share"][t]), _fmt(m["precision"][t]), _fmt(m["recall"][t])]
            for t in range(5)]  # fmt: skip
    conf = [[str(t + 1)] + [str(v) for v in m["confusion"][t]] for t in range(5)]
    return (
        ["", f"Per-tier precision/recall ({split.name} split, model, pooled):", ""]
        + _table(["tier", "share", "precision", "recall"], rows)
        + ["", "Confusion matrix (rows = actual tier, columns = predicted):", ""]
        + _table(["actual \\ predicted", "1", "2", "3", "4", "5"], conf)
    )


def render_markdown(splits: Sequence[SplitResult]) -> str:
    lines: list[str] = []
    for split in splits:
        lines += [f"### Split `{split.name}` — {split.description}", ""]
        lines += _split_table(split)
        if len(split.rows) > 3:
            lines += ["", f"Feature-group ablation ({split.name} split):", ""]
            lines += _ablation_table(split)
        if split.name == "time":
            lines += _per_class(split)
        lines.append("")
    return "\n".join(lines)
