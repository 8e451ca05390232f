from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from time import perf_counter
from typing import Any

import pytest

from tests.engine.builders import NOW, snapshot, sound, tag
from tests.engine.test_ml import FeaturePredictor
from virtuna.engine.errors import DraftValidationError, LLMBadOutput, LLMUnavailable
from virtuna.engine.features import PrePostingInput
from virtuna.engine.llm.fakes import FakeContentAnalyzer, FakeReasoner, FakeSemanticEvaluator
from virtuna.engine.llm.protocols import ContentAnalysis, ContentRequest
from virtuna.engine.pipeline import ENGINE_VERSION, Engine, StageTimeouts
from virtuna.engine.result import AnalysisResult
from virtuna.engine.rules import Rule, SemanticEvaluation
from virtuna.engine.types import CreatorContext, MLPrediction

CONTRACT_FIELDS = {
    "overall_score", "tier", "tier_label", "tier_probabilities", "confidence",
    "confidence_label", "is_calibrated", "factors", "suggestions", "behavioral_predictions",
    "matched_trends", "signals", "warnings", "latency_ms", "cost_cents", "engine_version",
    "model_version", "providers", "input_mode",
}  # fmt: skip
DRAFT = {
    "input_mode": "text",
    "content_text": "What if you tried this? Follow me for more #pho #fyp",
    "sound_title": "Monkeys Spinning Monkeys",
}
SNAPSHOT = snapshot((sound("Monkeys Spinning Monkeys"),), (tag("pho"), tag("fyp", generic=True)))
CREATOR = CreatorContext(
    as_of=NOW, handle="chef.an", followers=40_000, prior_video_count=12, median_views=90_000
)


def full_engine(**overrides: Any) -> Engine:
    parts: dict[str, Any] = {
        "content_analyzer": FakeContentAnalyzer(),
        "reasoner": FakeReasoner(),
        "semantic_evaluator": FakeSemanticEvaluator(),
        "predictor": FeaturePredictor(),
    }
    return Engine(**(parts | overrides))


def statuses(result: AnalysisResult) -> dict[str, str]:
    return {t.stage: t.status for t in result.stage_timings}


async def test_no_api_keys_gives_a_complete_honest_result() -> None:
    result = await Engine().analyze(DRAFT, creator=CREATOR, trends=SNAPSHOT, now=NOW)
    data = result.to_dict()
    assert CONTRACT_FIELDS <= set(data)
    json.dumps(data)
    assert result.overall_score is not None
    assert result.tier is not None
    assert result.confidence <= 0.69
    assert result.confidence_label in ("MEDIUM", "LOW")
    assert result.behavioral_predictions is None
    assert result.tier_probabilities is None
    assert result.providers == []
    assert result.cost_cents == 0
    assert result.is_calibrated is False
    assert result.engine_version == ENGINE_VERSION
    assert len(result.factors) == 5
    assert {s for s, r in result.signals.items() if r.available} == {"rules", "trends", "creator"}
    missing = next(w for w in result.warnings if w.startswith("Missing signals"))
    for name in ("behavioral", "llm_content", "ml", "GEMINI_API_KEY"):
        assert name in missing
    assert statuses(result)["content"] == "skipped"


async def test_local_factors_say_what_they_are_based_on() -> None:
    result = await Engine().analyze(DRAFT, creator=None, trends=None, now=NOW)
    factors = {f.name: f for f in result.factors}
    assert list(factors) == ["Hook", "Trend fit", "Creator reach", "Caption craft", "Model outlook"]
    assert "question_hook" in factors["Hook"].reason
    assert factors["Trend fit"].score is None
    assert factors["Model outlook"].score is None


async def test_all_providers_answer() -> None:
    engine = full_engine()
    result = await engine.analyze(DRAFT, creator=CREATOR, trends=SNAPSHOT, now=NOW)
    assert all(r.available for r in result.signals.values())
    assert sum(r.weight for r in result.signals.values()) == pytest.approx(1.0, abs=0.003)
    assert result.providers == [
        "fake:fake-content-1",
        "fake:fake-reasoner-1",
        "fake:fake-rules-1",
        "ml:test-model-1",
    ]
    assert result.cost_cents == pytest.approx(0.09)
    assert result.behavioral_predictions is not None
    assert result.behavioral_predictions.source == "fake:fake-reasoner-1"
    assert result.tier_probabilities == [0.1, 0.2, 0.4, 0.2, 0.1]
    assert result.model_version == "test-model-1"
    assert [f.name for f in result.factors][0] == "Scroll-Stop Power"
    assert result.suggestions[0].source == "reasoner"
    assert result.feature_vector["rule.question_hook"] == 1.0
    assert not any(w.startswith("Missing signals") for w in result.warnings)


async def test_reasoner_sees_real_trends_and_creator_but_no_content_numbers() -> None:
    reasoner = FakeReasoner()
    await full_engine(reasoner=reasoner).analyze(DRAFT, creator=CREATOR, trends=SNAPSHOT, now=NOW)
    request = reasoner.requests[0]
    assert "Monkeys Spinning Monkeys" in request.trend_context
    assert "@chef.an" in request.creator_context
    assert request.content_brief is not None
    assert not hasattr(request.content_brief, "factors")


class SlowAnalyzer(FakeContentAnalyzer):
    def __init__(self, delay: float) -> None:
        super().__init__(delay=delay)
        self.started = self.finished = 0.0

    async def analyze(self, request: ContentRequest) -> ContentAnalysis:
        self.started = perf_counter()
        try:
            return await super().analyze(request)
        finally:
            self.finished = perf_counter()


class StampedEvaluator(FakeSemanticEvaluator):
    def __init__(self, delay: float) -> None:
        super().__init__(delay=delay)
        self.finished = 0.0

    async def evaluate(self, text: str, rules: Sequence[Rule]) -> SemanticEvaluation:
        try:
            return await super().evaluate(text, rules)
        finally:
            self.finished = perf_counter()


async def test_a_slow_stage_does_not_delay_independent_ones() -> None:
    analyzer = SlowAnalyzer(delay=0.3)
    evaluator = StampedEvaluator(delay=0.3)
    engine = full_engine(content_analyzer=analyzer, semantic_evaluator=evaluator, reasoner=None)
    start = perf_counter()
    result = await engine.analyze(DRAFT, creator=CREATOR, trends=SNAPSHOT, now=NOW)
    elapsed = perf_counter() - start
    assert elapsed < 0.55  # 0.3 + 0.3 if the two slow stages ran one after the other
    assert evaluator.finished < analyzer.finished + 0.1
    durations = {t.stage: t.duration_ms for t in result.stage_timings}
    assert durations["trends"] < 100
    assert durations["creator"] < 100


async def test_reasoner_waits_for_content() -> None:
    analyzer = SlowAnalyzer(delay=0.1)
    reasoner = FakeReasoner()
    engine = full_engine(content_analyzer=analyzer, reasoner=reasoner)
    result = await engine.analyze(DRAFT, creator=CREATOR, trends=SNAPSHOT, now=NOW)
    assert reasoner.requests[0].content_brief is not None
    assert result.signals["behavioral"].available


async def test_stage_timeout_is_a_warning_and_an_unavailable_signal() -> None:
    engine = full_engine(
        content_analyzer=FakeContentAnalyzer(delay=1.0), timeouts=StageTimeouts(content=0.05)
    )
    result = await engine.analyze(DRAFT, creator=CREATOR, trends=SNAPSHOT, now=NOW)
    assert statuses(result)["content"] == "timeout"
    assert any("content stage timed out" in w for w in result.warnings)
    assert not result.signals["llm_content"].available
    assert result.signals["llm_content"].detail == "the content stage failed or timed out"
    assert result.signals["behavioral"].available  # the reasoner still ran, without a brief
    assert result.latency_ms < 900


async def test_both_llms_failing_is_a_low_partial_result() -> None:
    engine = full_engine(
        content_analyzer=FakeContentAnalyzer(error=LLMUnavailable("503 from provider")),
        reasoner=FakeReasoner(error=LLMBadOutput("not JSON")),
    )
    result = await engine.analyze(DRAFT, creator=CREATOR, trends=SNAPSHOT, now=NOW)
    assert result.confidence_label == "LOW"
    assert result.overall_score is not None
    assert any("Both language-model stages failed" in w for w in result.warnings)
    assert any("LLMUnavailable: 503 from provider" in w for w in result.warnings)
    assert result.behavioral_predictions is None
    assert statuses(result)["content"] == "failed"
    assert "fake:fake-content-1" not in result.providers


async def test_failing_semantic_evaluator_keeps_regex_rules() -> None:
    engine = Engine(semantic_evaluator=FakeSemanticEvaluator(error=LLMUnavailable("down")))
    result = await engine.analyze(DRAFT, creator=None, trends=None, now=NOW)
    assert result.signals["rules"].available
    assert any("evaluator failed" in w for w in result.warnings)
    assert result.cost_cents == 0


class BrokenPredictor:
    version = "broken-1"

    def predict(self, inp: PrePostingInput) -> MLPrediction:
        raise RuntimeError("model file corrupt")


async def test_failing_predictor_is_a_warning() -> None:
    result = await Engine(predictor=BrokenPredictor()).analyze(DRAFT, now=NOW)
    assert not result.signals["ml"].available
    assert any("ml stage failed (RuntimeError: model file corrupt)" in w for w in result.warnings)
    assert result.model_version == "broken-1"


async def test_follower_count_given_with_the_draft_feeds_the_creator_signal() -> None:
    result = await Engine().analyze({**DRAFT, "creator_followers": 50_000}, now=NOW)
    assert result.signals["creator"].available


async def test_video_modes_warn_that_the_video_was_not_analysed() -> None:
    draft = {"input_mode": "video_upload", "video_path": "uploads/x.mp4", "content_text": "hi"}
    result = await Engine().analyze(draft, now=NOW)
    assert result.input_mode == "video_upload"
    assert any("video itself was not analysed" in w for w in result.warnings)


async def test_validation_errors_are_raised() -> None:
    with pytest.raises(DraftValidationError) as caught:
        await Engine().analyze({"input_mode": "text", "bogus": 1}, now=NOW)
    assert {e["field"] for e in caught.value.errors} == {"bogus", "content_text"}


async def test_analyze_many_keeps_order_and_names_bad_indexes() -> None:
    engine = Engine()
    drafts = [{"input_mode": "text", "content_text": f"draft {i} #tag{i}"} for i in range(5)]
    results = await engine.analyze_many(drafts, now=NOW, concurrency=2)
    assert [r.feature_vector["hashtag_count"] for r in results] == [1.0] * 5
    assert [r.matched_trends for r in results] == [[]] * 5
    with pytest.raises(DraftValidationError) as caught:
        await engine.analyze_many([drafts[0], {"input_mode": "text"}], now=NOW)
    assert caught.value.errors[0]["field"] == "[1].content_text"
    with pytest.raises(ValueError, match="creators"):
        await engine.analyze_many(drafts, creators=[None], now=NOW)


async def test_batch_runs_drafts_concurrently() -> None:
    engine = Engine(content_analyzer=FakeContentAnalyzer(delay=0.1))
    drafts = [{"input_mode": "text", "content_text": f"draft {i}"} for i in range(8)]
    start = perf_counter()
    await engine.analyze_many(drafts, now=NOW, concurrency=8)
    assert perf_counter() - start < 0.5


async def test_real_captions_score_within_bounds(real_captions: list[str]) -> None:
    engine = Engine()
    drafts = [{"input_mode": "text", "content_text": c[:10_000]} for c in real_captions[::100]]
    results = await engine.analyze_many(drafts, creators=None, trends=SNAPSHOT, now=NOW)
    scores = [r.overall_score for r in results]
    assert all(s is not None and 0 <= s <= 100 for s in scores)
    assert len(set(scores)) > 5
    assert all(r.confidence <= 0.69 for r in results)


def test_engine_loads_default_rules_or_the_ones_given() -> None:
    assert len(Engine().rules) > 10
    assert len(Engine(rules=[]).rules) == 0


async def test_no_rules_and_no_context_gives_no_score_rather_than_fifty() -> None:
    result = await Engine(rules=[]).analyze(DRAFT, now=NOW)
    assert result.overall_score is None
    assert result.tier is None
    assert result.confidence == 0.0


async def test_concurrent_analyses_share_the_engine_safely() -> None:
    engine = full_engine()
    results = await asyncio.gather(
        *(engine.analyze({**DRAFT, "content_text": f"v{i} #pho"}, now=NOW) for i in range(10))
    )
    assert len({r.feature_vector["llm_content_score"] for r in results}) > 1
