"""What the engine needs from language models, independent of any SDK.

Two roles. The *content analyzer* reads the draft (and, for uploads, the video) and scores
five content factors. The *reasoner* predicts audience behaviour from the analyzer's words —
never its numbers (anti-anchoring: a reasoner shown "hook 8/10" echoes it back) — plus the
real trend and creator context, which are computed before it runs.

Adapters raise ``LLMUnavailable`` (network, timeout, open breaker) or ``LLMBadOutput``
(schema violation, refusal); the value types below raise ``LLMBadOutput`` themselves when
handed out-of-range numbers, so an adapter that builds them from parsed JSON gets that check
for free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from virtuna.engine.errors import LLMBadOutput
from virtuna.engine.llm.provider import VideoAttachment

CONTENT_FACTOR_NAMES: tuple[str, ...] = (
    "Scroll-Stop Power",
    "Completion Pull",
    "Rewatch Potential",
    "Share Trigger",
    "Emotional Charge",
)
COMPONENT_NAMES: tuple[str, ...] = (
    "hook_effectiveness",
    "retention_strength",
    "shareability",
    "comment_provocation",
    "save_worthiness",
    "trend_alignment",
    "originality",
)


def _check_range(label: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise LLMBadOutput(f"{label} = {value!r} is outside [{low}, {high}]")


@dataclass(frozen=True, slots=True)
class ContentFactor:
    name: str
    score: float  # 0–10
    rationale: str
    improvement_tip: str

    def __post_init__(self) -> None:
        _check_range(f"factor {self.name!r}", self.score, 0, 10)


@dataclass(frozen=True, slots=True)
class VideoSignals:
    visual_production_quality: float
    hook_visual_impact: float
    pacing_score: float
    transition_quality: float

    def __post_init__(self) -> None:
        for name in ("visual_production_quality", "hook_visual_impact", "pacing_score"):
            _check_range(name, getattr(self, name), 0, 10)
        _check_range("transition_quality", self.transition_quality, 0, 10)


@dataclass(frozen=True, slots=True)
class ContentRequest:
    text: str
    content_type: str
    input_mode: str
    niche: str | None
    language: str | None
    hashtags: tuple[str, ...]
    duration_seconds: float | None
    video_ref: str | None  # upload path or TikTok URL (informational; never fetched)
    video: VideoAttachment | None = None  # a stored upload a video-capable model may watch


@dataclass(frozen=True, slots=True)
class ContentAnalysis:
    factors: tuple[ContentFactor, ...]  # exactly five
    overall_impression: str
    content_summary: str
    video_signals: VideoSignals | None
    cost_cents: float
    provider: str
    model: str
    prompt_version: str | None = None  # e.g. "content.v1"; None for fakes
    video_seen: bool = False  # the answering model was shown the uploaded video itself

    def __post_init__(self) -> None:
        if len(self.factors) != 5:
            raise LLMBadOutput(f"expected 5 factors, got {len(self.factors)}")
        _check_range("cost_cents", self.cost_cents, 0, float("inf"))

    @property
    def score(self) -> float:
        """0–100: the mean factor score."""
        return sum(f.score for f in self.factors) / len(self.factors) * 10


class ContentAnalyzer(Protocol):
    async def analyze(self, request: ContentRequest) -> ContentAnalysis: ...


@dataclass(frozen=True, slots=True)
class ContentBrief:
    """The analyzer's words without its numbers, for the reasoner."""

    factor_notes: tuple[tuple[str, str, str], ...]  # (name, rationale, improvement_tip)
    overall_impression: str
    content_summary: str
    video_assessed: bool


def brief_from_analysis(analysis: ContentAnalysis) -> ContentBrief:
    return ContentBrief(
        factor_notes=tuple((f.name, f.rationale, f.improvement_tip) for f in analysis.factors),
        overall_impression=analysis.overall_impression,
        content_summary=analysis.content_summary,
        video_assessed=analysis.video_signals is not None or analysis.video_seen,
    )


@dataclass(frozen=True, slots=True)
class ReasoningRequest:
    text: str
    content_type: str
    input_mode: str
    niche: str | None
    hashtags: tuple[str, ...]
    duration_seconds: float | None
    content_brief: ContentBrief | None  # None when the content analyzer failed or is absent
    trend_context: str
    creator_context: str


@dataclass(frozen=True, slots=True)
class BehavioralPredictions:
    completion_pct: float
    share_pct: float
    comment_pct: float
    save_pct: float

    def __post_init__(self) -> None:
        for name in ("completion_pct", "share_pct", "comment_pct", "save_pct"):
            _check_range(name, getattr(self, name), 0, 100)


@dataclass(frozen=True, slots=True)
class ReasonerSuggestion:
    text: str
    priority: Literal["high", "medium", "low"] = "medium"
    category: str = "content"


@dataclass(frozen=True, slots=True)
class Reasoning:
    components: dict[str, float]  # COMPONENT_NAMES → 0–10
    behavioral: BehavioralPredictions | None
    suggestions: tuple[ReasonerSuggestion, ...]
    warnings: tuple[str, ...]
    cost_cents: float
    provider: str
    model: str
    prompt_version: str | None = None

    def __post_init__(self) -> None:
        missing = set(COMPONENT_NAMES) - set(self.components)
        if missing:
            raise LLMBadOutput(f"reasoning lacks components: {sorted(missing)}")
        for name, value in self.components.items():
            _check_range(name, value, 0, 10)

    @property
    def score(self) -> float:
        """0–100: the mean of the seven component scores."""
        values = [self.components[name] for name in COMPONENT_NAMES]
        return sum(values) / len(values) * 10


class Reasoner(Protocol):
    async def reason(self, request: ReasoningRequest) -> Reasoning: ...
