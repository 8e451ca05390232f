"""FAKE language models for tests and benchmarks — not predictions of anything.

Scores are derived from a SHA-256 of the input text, so the same draft always gets the same
answer and different drafts get different ones, with no network and no model. Each fake can
be told to wait (to exercise timeouts and concurrency) or to fail with a given exception.
Every answer is labelled provider "fake".
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence

from virtuna.engine.llm.protocols import (
    COMPONENT_NAMES,
    CONTENT_FACTOR_NAMES,
    BehavioralPredictions,
    ContentAnalysis,
    ContentFactor,
    ContentRequest,
    ReasonerSuggestion,
    Reasoning,
    ReasoningRequest,
)
from virtuna.engine.rules import Rule, SemanticEvaluation

FAKE_PROVIDER = "fake"


def fake_unit(*parts: str) -> float:
    """A deterministic value in [0, 1) from the parts."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def fake_score(*parts: str) -> float:
    """A deterministic 0–10 score, one decimal, centred like real LLM judgements (3–9)."""
    return round(3 + 6 * fake_unit(*parts), 1)


class _Behaviour:
    def __init__(self, *, delay: float = 0.0, error: Exception | None = None) -> None:
        self.delay = delay
        self.error = error
        self.calls = 0

    async def _act(self) -> None:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error


class FakeContentAnalyzer(_Behaviour):
    model = "fake-content-1"

    def __init__(
        self, *, delay: float = 0.0, error: Exception | None = None, cost_cents: float = 0.05
    ) -> None:
        super().__init__(delay=delay, error=error)
        self.cost_cents = cost_cents

    async def analyze(self, request: ContentRequest) -> ContentAnalysis:
        await self._act()
        factors = tuple(
            ContentFactor(
                name=name,
                score=fake_score("content", name, request.text),
                rationale=f"[fake] {name} judged from the caption's wording.",
                improvement_tip=f"[fake] Strengthen {name.lower()} in the first seconds.",
            )
            for name in CONTENT_FACTOR_NAMES
        )
        return ContentAnalysis(
            factors=factors,
            overall_impression="[fake] deterministic stand-in analysis",
            content_summary=request.text[:120],
            video_signals=None,
            cost_cents=self.cost_cents,
            provider=FAKE_PROVIDER,
            model=self.model,
        )


class FakeReasoner(_Behaviour):
    model = "fake-reasoner-1"

    def __init__(
        self, *, delay: float = 0.0, error: Exception | None = None, cost_cents: float = 0.03
    ) -> None:
        super().__init__(delay=delay, error=error)
        self.cost_cents = cost_cents
        self.requests: list[ReasoningRequest] = []

    async def reason(self, request: ReasoningRequest) -> Reasoning:
        self.requests.append(request)
        await self._act()
        components = {name: fake_score("reason", name, request.text) for name in COMPONENT_NAMES}
        behavioral = BehavioralPredictions(
            completion_pct=round(20 + 60 * fake_unit("completion", request.text), 1),
            share_pct=round(5 * fake_unit("share", request.text), 2),
            comment_pct=round(3 * fake_unit("comment", request.text), 2),
            save_pct=round(4 * fake_unit("save", request.text), 2),
        )
        return Reasoning(
            components=components,
            behavioral=behavioral,
            suggestions=(ReasonerSuggestion("[fake] Tighten the first two seconds.", "high"),),
            warnings=(),
            cost_cents=self.cost_cents,
            provider=FAKE_PROVIDER,
            model=self.model,
        )


class FakeSemanticEvaluator(_Behaviour):
    model = "fake-rules-1"

    def __init__(
        self, *, delay: float = 0.0, error: Exception | None = None, cost_cents: float = 0.01
    ) -> None:
        super().__init__(delay=delay, error=error)
        self.cost_cents = cost_cents

    async def evaluate(self, text: str, rules: Sequence[Rule]) -> SemanticEvaluation:
        await self._act()
        scores = {rule.name: fake_score("rule", rule.name, text) for rule in rules}
        return SemanticEvaluation(scores, self.cost_cents, FAKE_PROVIDER, self.model)
