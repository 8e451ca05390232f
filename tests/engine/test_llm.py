from __future__ import annotations

import pytest

from virtuna.engine.errors import LLMBadOutput, LLMError, LLMUnavailable
from virtuna.engine.llm.fakes import FakeContentAnalyzer, FakeReasoner, fake_score
from virtuna.engine.llm.protocols import (
    COMPONENT_NAMES,
    BehavioralPredictions,
    ContentAnalysis,
    ContentFactor,
    ContentRequest,
    Reasoning,
    ReasoningRequest,
    brief_from_analysis,
)


def content_request(text: str) -> ContentRequest:
    return ContentRequest(text, "video", "text", None, "en", (), None, None)


def reasoning_request(text: str) -> ReasoningRequest:
    return ReasoningRequest(text, "video", "text", None, (), None, None, "trends", "creator")


async def test_fakes_are_deterministic_and_input_dependent() -> None:
    analyzer = FakeContentAnalyzer()
    a1 = await analyzer.analyze(content_request("draft one"))
    a2 = await analyzer.analyze(content_request("draft one"))
    b = await analyzer.analyze(content_request("draft two"))
    assert a1 == a2
    assert a1.factors != b.factors
    assert a1.provider == "fake"
    assert len(a1.factors) == 5
    assert all(3 <= f.score <= 9 for f in a1.factors)


async def test_fake_reasoner_returns_all_components_and_behaviour() -> None:
    reasoning = await FakeReasoner().reason(reasoning_request("x"))
    assert set(reasoning.components) == set(COMPONENT_NAMES)
    assert reasoning.behavioral is not None
    assert 0 <= reasoning.score <= 100


async def test_fakes_fail_on_request() -> None:
    with pytest.raises(LLMUnavailable):
        await FakeContentAnalyzer(error=LLMUnavailable("503")).analyze(content_request("x"))


def test_error_tree() -> None:
    assert issubclass(LLMUnavailable, LLMError)
    assert issubclass(LLMBadOutput, LLMError)


def test_out_of_range_llm_values_are_bad_output() -> None:
    with pytest.raises(LLMBadOutput):
        ContentFactor("Hook", 11, "r", "t")
    with pytest.raises(LLMBadOutput):
        BehavioralPredictions(120, 1, 1, 1)
    with pytest.raises(LLMBadOutput, match="5 factors"):
        ContentAnalysis((ContentFactor("a", 5, "r", "t"),), "", "", None, 0.1, "p", "m")
    with pytest.raises(LLMBadOutput, match="components"):
        Reasoning({"hook_effectiveness": 5}, None, (), (), 0.1, "p", "m")


def test_brief_strips_numbers() -> None:
    factor = ContentFactor("Scroll-Stop Power", 8.5, "Strong opener", "Cut the intro")
    analysis = ContentAnalysis((factor,) * 5, "good", "summary", None, 0.1, "p", "m")
    brief = brief_from_analysis(analysis)
    assert brief.factor_notes[0] == ("Scroll-Stop Power", "Strong opener", "Cut the intro")
    assert "8.5" not in repr(brief)
    assert analysis.score == 85.0


def test_fake_score_range() -> None:
    values = [fake_score("x", str(i)) for i in range(200)]
    assert min(values) >= 3
    assert max(values) <= 9
    assert len(set(values)) > 20
