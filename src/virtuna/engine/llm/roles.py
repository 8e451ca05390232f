"""The engine's three LLM roles on top of ``StructuredCaller``: content, reasoning, rules.

Each role renders its versioned prompt, asks for its schema, and turns the validated answer
into the engine's value types, labelled with the provider that actually answered and the
prompt version. The reasoner is shown the content analyst's words but never its numbers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from virtuna.engine.llm.caller import StructuredCaller
from virtuna.engine.llm.protocols import (
    CONTENT_FACTOR_NAMES,
    BehavioralPredictions,
    ContentAnalysis,
    ContentBrief,
    ContentFactor,
    ContentRequest,
    ReasonerSuggestion,
    Reasoning,
    ReasoningRequest,
)
from virtuna.engine.llm.schemas import ContentOut, ReasoningOut, RulesOut
from virtuna.engine.rules import Rule, SemanticEvaluation

UNKNOWN = "not given"


def _common(
    content_type: str, niche: str | None, hashtags: Sequence[str], duration: float | None
) -> dict[str, str]:
    return {
        "content_type": content_type,
        "niche": niche or UNKNOWN,
        "hashtags": " ".join(hashtags) or "none",
        "duration": f"{duration:g} s" if duration is not None else UNKNOWN,
    }


class LLMContentAnalyzer:
    def __init__(self, caller: StructuredCaller) -> None:
        self.caller = caller

    async def analyze(self, request: ContentRequest) -> ContentAnalysis:
        values = _common(
            request.content_type, request.niche, request.hashtags, request.duration_seconds
        )
        values |= {"language": request.language or UNKNOWN, "text": request.text}
        answer = await self.caller.call(values, ContentOut, video=request.video)
        by_name = {f.name: f for f in answer.value.factors}
        factors = tuple(
            ContentFactor(
                name=name,
                score=round(by_name[name].score, 1),
                rationale=by_name[name].rationale,
                improvement_tip=by_name[name].improvement_tip,
            )
            for name in CONTENT_FACTOR_NAMES
        )
        return ContentAnalysis(
            factors=factors,
            overall_impression=answer.value.overall_impression,
            content_summary=answer.value.content_summary,
            video_signals=None,
            cost_cents=answer.cost_cents,
            provider=answer.provider,
            model=answer.model,
            prompt_version=answer.prompt_version,
            video_seen=answer.saw_video,
        )


def brief_text(brief: ContentBrief | None) -> str:
    """The analyst's words for the reasoner: rationales and tips, no scores (anti-anchoring)."""
    if brief is None:
        return "No content analysis is available; judge the draft yourself."
    lines = [f"- {name}: {rationale} (tip: {tip})" for name, rationale, tip in brief.factor_notes]
    lines.append(f"Overall: {brief.overall_impression}")
    lines.append(f"Summary: {brief.content_summary}")
    if brief.video_assessed:
        lines.append("The video itself was assessed by the analyst.")
    return "\n".join(lines)


class LLMReasoner:
    def __init__(self, caller: StructuredCaller) -> None:
        self.caller = caller

    async def reason(self, request: ReasoningRequest) -> Reasoning:
        values = _common(
            request.content_type, request.niche, request.hashtags, request.duration_seconds
        )
        values |= {
            "text": request.text,
            "content_brief": brief_text(request.content_brief),
            "trend_context": request.trend_context,
            "creator_context": request.creator_context,
        }
        answer = await self.caller.call(values, ReasoningOut)
        out = answer.value
        b = out.behavioral
        return Reasoning(
            components={k: round(v, 1) for k, v in out.components.model_dump().items()},
            behavioral=BehavioralPredictions(
                b.completion_pct, b.share_pct, b.comment_pct, b.save_pct
            ),
            suggestions=tuple(
                ReasonerSuggestion(s.text, s.priority, s.category) for s in out.suggestions
            ),
            warnings=tuple(out.warnings),
            cost_cents=answer.cost_cents,
            provider=answer.provider,
            model=answer.model,
            prompt_version=answer.prompt_version,
        )


class LLMSemanticEvaluator:
    """All semantic rules for one draft in one call; answers keyed by the exact rule name."""

    def __init__(self, caller: StructuredCaller) -> None:
        self.caller = caller

    async def evaluate(self, text: str, rules: Sequence[Rule]) -> SemanticEvaluation:
        listed = [
            {"name": r.name, "question": r.evaluation_prompt, "about": r.description} for r in rules
        ]
        values = {"rules": json.dumps(listed, ensure_ascii=False, indent=1), "text": text}
        answer = await self.caller.call(values, RulesOut)
        # A name given twice is ambiguous; RuleSet drops unknown names with a warning.
        scores: dict[str, float] = {}
        for item in answer.value.scores:
            scores.setdefault(item.rule, item.score)
        return SemanticEvaluation(
            scores=scores,
            cost_cents=answer.cost_cents,
            provider=answer.provider,
            model=answer.model,
            prompt_version=answer.prompt_version,
        )
