from __future__ import annotations

import numpy as np
import pytest

from tests.training.conftest import FAST
from virtuna.training.dataset import Dataset
from virtuna.training.evaluate import evaluate, to_json
from virtuna.training.metrics import rankdata, spearman, tier_metrics, tiers_of, top_label_ece
from virtuna.training.report import render_markdown


def test_rankdata_averages_ties_and_spearman_matches_definition() -> None:
    np.testing.assert_array_equal(rankdata(np.array([3.0, 1.0, 3.0, 2.0])), [3.5, 1, 3.5, 2])
    x = np.arange(10.0)
    assert spearman(x, x**3) == pytest.approx(1.0)
    assert spearman(x, -x) == pytest.approx(-1.0)


def test_tiers_follow_cutoffs() -> None:
    cut = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(tiers_of(np.array([0.5, 1.0, 2.5, 3.9, 9.0]), cut),
                                  [1, 2, 3, 4, 5])  # fmt: skip


def test_ece_is_zero_when_confidence_matches_accuracy() -> None:
    probs = np.tile([0.6, 0.1, 0.1, 0.1, 0.1], (10, 1))
    true = np.array([1] * 6 + [2] * 4)
    assert top_label_ece(probs, true) == pytest.approx(0.0)
    assert top_label_ece(probs, np.full(10, 2)) == pytest.approx(0.6)


def test_tier_metrics_of_a_perfect_model() -> None:
    cut = np.array([1.0, 2.0, 3.0, 4.0])
    y = np.array([0.5, 1.5, 2.5, 3.5, 4.5] * 4)
    probs = np.eye(5)[tiers_of(y, cut) - 1] * 0.96 + 0.008
    m = tier_metrics(y, probs, y, cut)
    assert (m["accuracy"], m["macro_f1"], m["qwk"], m["auc_tier5"]) == (1.0, 1.0, 1.0, 1.0)
    assert m["ece"] == pytest.approx(0.032)


def test_evaluation_reports_every_split_and_baseline(sample_dataset: Dataset) -> None:
    splits = evaluate(sample_dataset, config=FAST, ablations=False)
    names = [s.name for s in splits]
    assert names[:2] == ["time", "creator"]
    assert {n for n in names if n.startswith("loso:")} == {
        f"loso:{s}" for s in np.unique(sample_dataset.source)
    }
    time = splits[0].rows
    assert set(time) == {"model", "followers only", "content only (no creator)"}
    assert {"pooled", "pooled (unbiased)", "thienphucle-vn-feed:feed"} <= set(time["model"])
    for key in ("spearman", "auc_tier5", "accuracy", "adjacent_accuracy", "macro_f1", "qwk",
                "ece", "nll", "precision", "recall", "confusion"):  # fmt: skip
        assert key in time["model"]["pooled"]
    # The model has to earn its place over the followers-only baseline on unbiased rows.
    unbiased = time["model"]["pooled (unbiased)"]["spearman"]
    assert unbiased > time["followers only"]["pooled (unbiased)"]["spearman"]
    text = render_markdown(splits)
    assert "### Split `time`" in text
    assert "| pooled (unbiased) | model |" in text
    assert set(to_json(splits)) == set(names)
