"""The analysis result: a pydantic model so the API can reuse it as its response schema.

Field names follow ``shared/CONTRACT.md`` ("Analysis result"); ``id`` and ``created_at`` are
added by the service when it stores the result.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ConfidenceLabel = Literal["HIGH", "MEDIUM", "LOW"]
StageStatus = Literal["ok", "failed", "timeout", "skipped"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Factor(_Frozen):
    name: str
    score: float | None = Field(ge=0, le=10)  # None: the source of this factor is unavailable
    reason: str
    improvement_tip: str | None = None


class Suggestion(_Frozen):
    text: str
    priority: Literal["high", "medium", "low"]
    category: str
    source: str  # which stage produced it: rules, trends, reasoner, content_analyzer, caption


class MatchedTrend(_Frozen):
    kind: Literal["sound", "hashtag"]
    name: str
    phase: str | None
    velocity: float
    similarity: float = Field(ge=0, le=1)


class SignalReport(_Frozen):
    available: bool
    score: float | None = Field(default=None, ge=0, le=100)
    weight: float = Field(ge=0, le=1)
    detail: str | None = None  # why it is unavailable, or where it came from


class BehavioralPredictions(_Frozen):
    completion_pct: float
    share_pct: float
    comment_pct: float
    save_pct: float
    source: str  # the provider that predicted them; never derived from the score


class StageTiming(_Frozen):
    stage: str
    status: StageStatus
    duration_ms: float
    error: str | None = None


class AnalysisResult(_Frozen):
    overall_score: float | None = Field(ge=0, le=100)  # None only when no signal at all
    tier: int | None = Field(ge=1, le=5)
    tier_label: str | None
    tier_probabilities: list[float] | None
    confidence: float = Field(ge=0, le=1)
    confidence_label: ConfidenceLabel
    is_calibrated: bool = False
    factors: list[Factor]
    suggestions: list[Suggestion]
    behavioral_predictions: BehavioralPredictions | None
    matched_trends: list[MatchedTrend]
    signals: dict[str, SignalReport]
    warnings: list[str]
    latency_ms: float
    cost_cents: float
    engine_version: str
    model_version: str | None
    providers: list[str]
    input_mode: str
    feature_vector: dict[str, float | None]
    stage_timings: list[StageTiming]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
