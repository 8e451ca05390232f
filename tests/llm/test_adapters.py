"""Providers through the real SDKs (google-genai, openai) against a local fake server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from tests.llm.conftest import caller_for, deepseek_on, gemini_on
from tests.llm.fake_servers import FakeLLMServer
from virtuna.engine.errors import LLMBadOutput
from virtuna.engine.llm.ledger import collect_calls
from virtuna.engine.llm.protocols import (
    CONTENT_FACTOR_NAMES,
    ContentRequest,
    ReasoningRequest,
    brief_from_analysis,
)
from virtuna.engine.llm.provider import LLMProvider
from virtuna.engine.llm.roles import LLMContentAnalyzer, LLMReasoner, LLMSemanticEvaluator
from virtuna.engine.rules import Rule

Servers = Callable[..., FakeLLMServer]
DRAFT = ContentRequest(
    "3 mistakes everyone makes with retinol #skincare",
    "video",
    "text",
    "beauty",
    "en",
    ("#skincare",),
    34.0,
    None,
)


def reasoning_request() -> ReasoningRequest:
    return ReasoningRequest(
        DRAFT.text,
        "video",
        "text",
        "beauty",
        ("#skincare",),
        34.0,
        None,
        "Matched hashtag #skincare (rising).",
        "Creator has 48k followers.",
    )


async def test_gemini_content_analysis(servers: Servers, providers: list[LLMProvider]) -> None:
    server = servers()
    analyzer = LLMContentAnalyzer(caller_for("content", [await gemini_on(server, providers)]))
    with collect_calls() as calls:
        analysis = await analyzer.analyze(DRAFT)
    assert [f.name for f in analysis.factors] == list(CONTENT_FACTOR_NAMES)
    assert analysis.provider == "gemini"
    assert analysis.model == "gemini-3.5-flash"
    assert analysis.prompt_version == "content.v1"
    # 1200 input tokens at $1.50/M + 300 output at $9/M = $0.0045 = 0.45 cents
    assert analysis.cost_cents == pytest.approx(0.45)
    (seen,) = server.seen
    assert seen.path == "/v1/models/gemini-3.5-flash:generateContent"
    assert seen.headers["x-goog-api-key"] == "test-gemini-key"
    config = seen.body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert "factors" in config["responseJsonSchema"]["properties"]
    assert "retinol" in seen.text
    assert [(c.provider, c.outcome, c.attempt, c.input_tokens) for c in calls] == [
        ("gemini", "ok", 1, 1200)
    ]


async def test_deepseek_reasoning_without_thinking(
    servers: Servers, providers: list[LLMProvider]
) -> None:
    server = servers()
    reasoner = LLMReasoner(caller_for("reasoning", [await deepseek_on(server, providers)]))
    reasoning = await reasoner.reason(reasoning_request())
    assert reasoning.provider == "deepseek"
    assert reasoning.prompt_version == "reasoning.v1"
    assert reasoning.behavioral is not None
    assert reasoning.behavioral.completion_pct == 62
    # 800 fresh input at $0.15/M + 200 cached at $0.003/M + 250 output at $0.60/M
    assert reasoning.cost_cents == pytest.approx((800 * 0.15 + 200 * 0.003 + 250 * 0.6) / 1e4)
    (seen,) = server.seen
    assert seen.path == "/chat/completions"
    assert seen.body["thinking"] == {"type": "disabled"}
    assert seen.body["response_format"] == {"type": "json_object"}
    assert seen.headers["authorization"] == "Bearer test-deepseek-key"
    # the reasoner reads the real trend and creator context, and "json" (JSON mode needs it)
    assert "#skincare (rising)" in seen.text
    assert "48k followers" in seen.text
    assert "json" in seen.text.lower()


async def test_reasoner_sees_words_not_scores(
    servers: Servers, providers: list[LLMProvider]
) -> None:
    server = servers()
    gemini = await gemini_on(server, providers)
    analysis = await LLMContentAnalyzer(caller_for("content", [gemini])).analyze(DRAFT)
    request = replace(reasoning_request(), content_brief=brief_from_analysis(analysis))
    await LLMReasoner(caller_for("reasoning", [gemini])).reason(request)
    prompt = server.seen[-1].text
    assert "Scroll-Stop Power looks strong." in prompt
    assert all(str(f.score) not in prompt for f in analysis.factors)


async def test_semantic_rules_keyed_by_exact_name(
    servers: Servers, providers: list[LLMProvider]
) -> None:
    server = servers()
    evaluator = LLMSemanticEvaluator(caller_for("rules", [await gemini_on(server, providers)]))
    rules = [
        Rule("clear_value", "content", "semantic", evaluation_prompt="Is the value clear?"),
        Rule("story_arc", "content", "semantic", evaluation_prompt="Is there a story arc?"),
    ]
    evaluation = await evaluator.evaluate("draft text", rules)
    assert dict(evaluation.scores) == {"clear_value": 8.0, "story_arc": 8.0}
    assert evaluation.cost_cents > 0
    assert evaluation.prompt_version == "rules.v1"


@pytest.mark.parametrize("bad", ["bad_json", "bad_schema", "blank", "fenced"])
async def test_one_repair_turn_fixes_a_bad_answer(
    servers: Servers, providers: list[LLMProvider], bad: str
) -> None:
    server = servers(script=[bad])
    caller = caller_for("content", [await deepseek_on(server, providers)])
    with collect_calls() as calls:
        analysis = await LLMContentAnalyzer(caller).analyze(DRAFT)
    assert analysis.provider == "deepseek"
    if bad == "fenced":  # code fences are stripped, no repair needed
        assert [c.outcome for c in calls] == ["ok"]
        return
    assert [c.outcome for c in calls] == ["bad_output", "ok"]
    repair = server.seen[1].body["messages"]
    assert repair[-1]["role"] == "user"
    assert "not valid" in repair[-1]["content"]
    assert repair[-2]["role"] == "assistant"
    assert analysis.cost_cents == pytest.approx(2 * calls[-1].cost_cents)  # both attempts billed


async def test_bad_twice_is_bad_output(servers: Servers, providers: list[LLMProvider]) -> None:
    server = servers(mode="bad_json")
    caller = caller_for("content", [await gemini_on(server, providers)])
    with collect_calls() as calls, pytest.raises(LLMBadOutput, match="no valid answer"):
        await LLMContentAnalyzer(caller).analyze(DRAFT)
    assert len(server.seen) == 2
    assert [c.outcome for c in calls] == ["bad_output", "bad_output"]


async def test_out_of_scale_scores_are_repaired_small_overshoot_clamped(
    servers: Servers, providers: list[LLMProvider]
) -> None:
    from tests.llm.fake_servers import default_answer

    answers = iter([85.0, 10.4])

    def answer(prompt: str) -> dict[str, object]:
        data = default_answer(prompt)
        data["factors"][0]["score"] = next(answers)
        return data

    server = servers(answer=answer)
    caller = caller_for("content", [await gemini_on(server, providers)])
    analysis = await LLMContentAnalyzer(caller).analyze(DRAFT)
    assert len(server.seen) == 2  # 85 on a 0-10 scale earned a repair turn
    assert analysis.factors[0].score == 10.0  # 10.4 was clamped


@pytest.mark.parametrize("make", [gemini_on, deepseek_on])
async def test_refusal_is_bad_output_without_repair(
    servers: Servers, providers: list[LLMProvider], make: object
) -> None:
    server = servers(mode="refusal")
    provider = await make(server, providers)  # type: ignore[operator]
    with collect_calls() as calls, pytest.raises(LLMBadOutput):
        await LLMContentAnalyzer(caller_for("content", [provider])).analyze(DRAFT)
    assert len(server.seen) == 1
    assert calls[0].outcome == "bad_output"
    assert calls[0].error_class == "LLMRefusal"
