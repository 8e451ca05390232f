"""Ranking, tier and calibration metrics reported by ``virtuna ml evaluate``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import (
    cohen_kappa_score,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ECE_BINS = 15


def rankdata(x: FloatArray) -> FloatArray:
    """Average ranks (ties share the mean rank), as Spearman's rho requires."""
    n = len(x)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    # Runs of equal values: each gets the mean of its 1-based positions.
    new_run = np.r_[True, sorted_x[1:] != sorted_x[:-1]]
    starts = np.flatnonzero(new_run)
    ends = np.r_[starts[1:], n]
    mean_rank = (starts + ends - 1) / 2.0 + 1.0
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = mean_rank[np.cumsum(new_run) - 1]
    return ranks


def spearman(a: FloatArray, b: FloatArray) -> float:
    if len(a) < 3:
        return math.nan
    ra, rb = rankdata(a), rankdata(b)
    if ra.std() == 0 or rb.std() == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def tiers_of(y: FloatArray, cutoffs: FloatArray) -> IntArray:
    """Tier 1-5 of each log-views value given the four cut-offs (p25, p50, p75, p90)."""
    return (np.searchsorted(cutoffs, y, side="right") + 1).astype(np.int64)


def top_label_ece(probs: FloatArray, true_tier: IntArray, bins: int = ECE_BINS) -> float:
    """Expected calibration error of the top label, equal-width confidence bins."""
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) + 1) == true_tier
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(conf[m].mean() - correct[m].mean())
    return float(ece)


def reliability_table(probs: FloatArray, true_tier: IntArray, bins: int = ECE_BINS
                      ) -> list[tuple[float, float, int]]:  # fmt: skip
    """(mean confidence, accuracy, count) per non-empty confidence bin."""
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) + 1) == true_tier
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    return [
        (float(conf[idx == b].mean()), float(correct[idx == b].mean()), int((idx == b).sum()))
        for b in range(bins)
        if (idx == b).any()
    ]


def confusion(true_tier: IntArray, pred_tier: IntArray) -> list[list[int]]:
    """5×5 counts, rows = actual tier, columns = predicted tier."""
    m = np.zeros((5, 5), dtype=np.int64)
    np.add.at(m, (true_tier - 1, pred_tier - 1), 1)
    return [[int(v) for v in row] for row in m]


def tier_metrics(score: FloatArray, probs: FloatArray, y: FloatArray, cutoffs: FloatArray
                 ) -> dict[str, Any]:  # fmt: skip
    """Every number of the evaluation table for one model on one test set."""
    true_tier = tiers_of(y, cutoffs)
    pred_tier = (probs.argmax(axis=1) + 1).astype(np.int64)
    labels = [1, 2, 3, 4, 5]
    precision, recall, _, _ = precision_recall_fscore_support(
        true_tier, pred_tier, labels=labels, zero_division=0
    )
    top = true_tier == 5
    p_true = probs[np.arange(len(y)), true_tier - 1]
    return {
        "n": len(y),
        "spearman": spearman(score, y),
        "auc_tier5": float(roc_auc_score(top, probs[:, 4])) if 0 < top.sum() < len(y) else None,
        "accuracy": float((pred_tier == true_tier).mean()),
        "adjacent_accuracy": float((np.abs(pred_tier - true_tier) <= 1).mean()),
        "macro_f1": float(
            f1_score(true_tier, pred_tier, labels=labels, average="macro", zero_division=0)
        ),
        "qwk": float(cohen_kappa_score(true_tier, pred_tier, labels=labels, weights="quadratic")),
        "ece": top_label_ece(probs, true_tier),
        "nll": float(-np.mean(np.log(np.clip(p_true, 1e-12, None)))),
        "precision": [float(v) for v in precision],
        "recall": [float(v) for v in recall],
        "true_share": [float((true_tier == t).mean()) for t in labels],
        "confusion": confusion(true_tier, pred_tier),
        "reliability": reliability_table(probs, true_tier),
    }
