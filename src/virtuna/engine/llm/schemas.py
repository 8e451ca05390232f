"""What each role must answer, as pydantic models: sent as the JSON schema, then validated.

Small overshoots (a 10.3 on a 0–10 scale) are clamped; a number far outside the scale (85 on
0–10: the model used another scale) is a validation error, which earns one repair turn —
clamping it would silently turn every such answer into a perfect score. Free text is cut to a
fixed length so a rambling model cannot bloat stored results.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from virtuna.engine.llm.protocols import CONTENT_FACTOR_NAMES

SLACK = 1.0  # how far outside its range a number may be and still be clamped


def _bounded(low: float, high: float) -> AfterValidator:
    def check(value: float) -> float:
        if not math.isfinite(value) or not low - SLACK <= value <= high + SLACK:
            raise ValueError(f"must be between {low:g} and {high:g}")
        return min(high, max(low, value))

    return AfterValidator(check)


def _cut(limit: int) -> AfterValidator:
    return AfterValidator(lambda text: text.strip()[:limit])


Score10 = Annotated[float, _bounded(0, 10)]
Percent = Annotated[float, _bounded(0, 100)]
ShortText = Annotated[str, _cut(400)]
LongText = Annotated[str, _cut(600)]


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FactorOut(_Out):
    name: str
    score: Score10
    rationale: ShortText
    improvement_tip: ShortText


class ContentOut(_Out):
    factors: list[FactorOut] = Field(min_length=5, max_length=5)
    overall_impression: LongText
    content_summary: LongText

    @model_validator(mode="after")
    def _exact_factor_names(self) -> ContentOut:
        names = [f.name for f in self.factors]
        if sorted(names) != sorted(CONTENT_FACTOR_NAMES):
            raise ValueError(f"factors must be exactly {list(CONTENT_FACTOR_NAMES)}, got {names}")
        return self


class ComponentsOut(_Out):
    hook_effectiveness: Score10
    retention_strength: Score10
    shareability: Score10
    comment_provocation: Score10
    save_worthiness: Score10
    trend_alignment: Score10
    originality: Score10


class BehaviourOut(_Out):
    completion_pct: Percent
    share_pct: Percent
    comment_pct: Percent
    save_pct: Percent


class SuggestionOut(_Out):
    text: ShortText
    priority: Literal["high", "medium", "low"] = "medium"
    category: Annotated[str, _cut(40)] = "content"


class ReasoningOut(_Out):
    components: ComponentsOut
    behavioral: BehaviourOut
    # Extra items are dropped rather than rejected: a sixth suggestion is not worth a repair.
    suggestions: Annotated[list[SuggestionOut], AfterValidator(lambda v: v[:5])] = Field(
        default_factory=list
    )
    warnings: Annotated[list[ShortText], AfterValidator(lambda v: v[:5])] = Field(
        default_factory=list
    )


class RuleScoreOut(_Out):
    rule: str
    score: Score10


class RulesOut(_Out):
    scores: list[RuleScoreOut]
