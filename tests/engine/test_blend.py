"""Fitted blend weights: how they map onto the engine's weights and what a result shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine.builders import NOW
from tests.engine.test_ml import FeaturePredictor
from virtuna.engine.aggregate import SIGNALS, Weights, blend, select_weights
from virtuna.engine.blend import BLEND_FILE, BlendError, FittedBlend, SignalFit
from virtuna.engine.bundle import ModelBundle, default_bundle_path
from virtuna.engine.llm.fakes import FakeContentAnalyzer, FakeReasoner
from virtuna.engine.pipeline import Engine
from virtuna.engine.types import CreatorContext

FITTED = FittedBlend(
    signals={
        "ml": SignalFit(0.8, 0.120),
        "creator": SignalFit(0.2, 0.004),
        "rules": SignalFit(0.0, -0.001),
        "trends": SignalFit(0.0, 0.000),
    },
    fallback={
        "ml": SignalFit(0.0, 0.0),
        "creator": SignalFit(1.0, 0.5),
        "rules": SignalFit(0.0, 0.0),
        "trends": SignalFit(0.0, 0.0),
    },
    model_version="test-model-1",
)
DRAFT = {"input_mode": "text", "content_text": "Phở Hà Nội ngon nhất 🍜 #pho #fyp"}
CREATOR = CreatorContext(as_of=NOW, handle="chef", followers=40_000, prior_video_count=12,
                         median_views=90_000, recent_median_views=80_000)  # fmt: skip


def test_fitted_shares_divide_the_local_signals_base_weight() -> None:
    weights = FITTED.weights()
    base = Weights()
    assert (weights.behavioral, weights.llm_content) == (base.behavioral, base.llm_content)
    local = base.ml + base.creator + base.rules + base.trends
    assert weights.ml == pytest.approx(0.8 * local)
    assert weights.creator == pytest.approx(0.2 * local)
    assert (weights.rules, weights.trends) == (0.0, 0.0)


def test_without_llms_the_score_is_the_fitted_blend_of_local_signals() -> None:
    weights = FITTED.weights()
    scores = {"ml": 70.0, "creator": 40.0, "rules": 100.0, "trends": 0.0}
    assert blend(weights, scores) == pytest.approx(0.8 * 70 + 0.2 * 40, abs=0.05)
    shown = select_weights(weights, set(scores))
    assert (shown["ml"], shown["creator"], shown["rules"], shown["trends"]) == (0.8, 0.2, 0, 0)


def test_llm_signals_keep_their_base_weights_relative_to_each_other() -> None:
    shown = select_weights(FITTED.weights(), set(SIGNALS))
    assert shown["behavioral"] / shown["llm_content"] == pytest.approx(0.35 / 0.25, rel=0.01)
    assert shown["behavioral"] + shown["llm_content"] == pytest.approx(0.60 / 1.10, abs=0.002)
    assert shown["ml"] / shown["creator"] == pytest.approx(4.0, rel=0.01)


def test_without_the_ml_signal_the_fallback_fit_applies() -> None:
    weights = FITTED.weights()
    scores = {"ml": None, "creator": 40.0, "rules": 90.0, "trends": 10.0}
    assert blend(weights, scores) == 40.0
    # Fitted weights alone would give no score at all here: ml missing, the rest weight 0.
    no_fallback = Weights(behavioral=0.35, llm_content=0.25, ml=0.4, creator=0.0, rules=0.0,
                          trends=0.0)  # fmt: skip
    assert blend(no_fallback, scores) is None


async def test_the_result_says_why_a_signal_weighs_zero() -> None:
    engine = Engine(predictor=FeaturePredictor(), weights=FITTED.weights())
    result = await engine.analyze(DRAFT, creator=CREATOR, now=NOW)
    rules = result.signals["rules"]
    assert rules.available
    assert rules.weight == 0.0
    assert rules.detail == "weight 0: no measured lift (Δspearman -0.001)"
    assert result.signals["ml"].weight == 0.8
    assert "fitted weight" in (result.signals["ml"].detail or "")
    ml, creator = result.signals["ml"].score, result.signals["creator"].score
    assert ml is not None
    assert creator is not None
    assert result.overall_score == pytest.approx(0.8 * ml + 0.2 * creator, abs=0.05)


async def test_with_llms_the_fitted_local_block_keeps_the_base_share() -> None:
    engine = Engine(predictor=FeaturePredictor(), weights=FITTED.weights(),
                    content_analyzer=FakeContentAnalyzer(), reasoner=FakeReasoner())  # fmt: skip
    result = await engine.analyze(DRAFT, creator=CREATOR, now=NOW)
    w = {name: report.weight for name, report in result.signals.items()}
    assert w["behavioral"] + w["llm_content"] == pytest.approx(0.545, abs=0.002)
    assert w["ml"] + w["creator"] == pytest.approx(0.455, abs=0.002)
    assert w["rules"] == 0.0


def test_json_round_trip_and_format_checks(tmp_path: Path) -> None:
    path = FITTED.save(tmp_path / BLEND_FILE)
    assert FittedBlend.load(path) == FITTED
    raw = json.loads(path.read_text())
    negative = {"ml": {"weight": -1, "delta_spearman": 0}}
    not_local = {"llm_content": {"weight": 1, "delta_spearman": 0}}
    for broken in ({**raw, "format_version": 9}, {**raw, "signals": negative},
                   {**raw, "signals": not_local}):  # fmt: skip
        path.write_text(json.dumps(broken))
        with pytest.raises(BlendError):
            FittedBlend.load(path)


def test_a_bundle_carries_its_blend(tmp_path: Path) -> None:
    shipped = default_bundle_path()
    assert shipped is not None
    bundle = ModelBundle.load(shipped)
    bundle.blend = FITTED
    copy = ModelBundle.load(bundle.save(tmp_path / "b"))
    assert copy.blend == FITTED
    (tmp_path / "b" / BLEND_FILE).write_text("{}")
    with pytest.raises(Exception, match="blend"):
        ModelBundle.load(tmp_path / "b")
