"""Blend fitting on real views: useless signals get weight 0, the fit never loses to the
model alone on its own rows, and the column blend is the engine's blend."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from virtuna.engine.aggregate import SIGNALS, Weights, blend
from virtuna.engine.bundle import load_default_bundle
from virtuna.training.blend import blended, fit_blend, score_report
from virtuna.training.dataset import Dataset
from virtuna.training.metrics import rankdata
from virtuna.training.scored import ScoredRows


@pytest.fixture(scope="module")
def rows(sample_dataset: Dataset) -> ScoredRows:
    """Real videos scored by the shipped model, a followers-only creator signal, a random
    "rules" signal and a constant "trends" signal."""
    ds = sample_dataset.subset(sample_dataset.eligible())
    bundle = load_default_bundle()
    assert bundle is not None
    ml = 100.0 * bundle.percentiles(bundle.predict_log_views(np.ascontiguousarray(ds.X)))
    fans = ds.column("log_followers")
    creator = np.where(np.isnan(fans), np.nan, 100.0 * rankdata(fans) / len(fans))
    noise = np.random.default_rng(3).uniform(0, 100, len(ds))
    signals = {name: np.full(len(ds), np.nan) for name in SIGNALS}
    signals |= {"ml": np.round(ml, 2), "creator": np.round(creator, 1),
                "rules": np.round(noise, 1), "trends": np.zeros(len(ds))}  # fmt: skip
    return ScoredRows(
        ids=[str(i) for i in range(len(ds))],
        final=blended(signals, Weights().as_dict()),
        signals=signals,
        y=ds.y,
        log_followers=fans,
        source=ds.source,
        group=ds.group,
        eligible=np.ones(len(ds), dtype=bool),
    )


def test_column_blend_is_the_engines_blend(rows: ScoredRows) -> None:
    weights = Weights(ml=0.3, creator=0.2, rules=0.1, trends=0.05)
    column = blended(rows.signals, weights.as_dict())
    for i in random.Random(1).sample(range(len(rows)), 300):
        scores = {n: (None if math.isnan(v[i]) else float(v[i])) for n, v in rows.signals.items()}
        assert blend(weights, scores) == pytest.approx(column[i], abs=1e-9)


def test_signals_without_lift_get_weight_zero_and_say_so(rows: ScoredRows) -> None:
    fitted = fit_blend(rows, model_version="test", description="sample")
    assert fitted.signals["rules"].weight == 0.0
    assert fitted.signals["trends"].weight == 0.0
    assert fitted.signals["rules"].note().startswith("weight 0: no measured lift (Δspearman")
    assert fitted.signals["ml"].weight >= 0.5
    assert fitted.signals["ml"].delta_spearman > 0.01
    ev = fitted.evidence
    # The model alone is a grid point, so the fit can only match or beat it on its rows.
    assert ev["objective_fitted"] >= ev["objective_ml_only"] - 1e-12
    assert ev["objective_fitted"] > ev["objective_base_weights"]
    assert fitted.fallback["ml"].weight == 0.0
    assert fitted.fallback["creator"].weight > 0.5


def test_report_puts_the_served_score_beside_model_and_followers(rows: ScoredRows) -> None:
    report = score_report(rows)
    pooled = next(r for r in report if r["population"] == "pooled")
    assert pooled["n"] == len(rows)
    assert pooled["model alone (ml signal)"] > pooled["followers alone"] > 0.3
    groups = [r["population"] for r in report]
    assert "thienphucle-vn-feed:timeline" in groups
