"""Language-model roles as protocols; SDK adapters live elsewhere, fakes in ``fakes``."""

from virtuna.engine.llm.protocols import (
    COMPONENT_NAMES,
    CONTENT_FACTOR_NAMES,
    BehavioralPredictions,
    ContentAnalysis,
    ContentAnalyzer,
    ContentBrief,
    ContentFactor,
    ContentRequest,
    Reasoner,
    ReasonerSuggestion,
    Reasoning,
    ReasoningRequest,
    VideoSignals,
    brief_from_analysis,
)

__all__ = [
    "COMPONENT_NAMES",
    "CONTENT_FACTOR_NAMES",
    "BehavioralPredictions",
    "ContentAnalysis",
    "ContentAnalyzer",
    "ContentBrief",
    "ContentFactor",
    "ContentRequest",
    "Reasoner",
    "ReasonerSuggestion",
    "Reasoning",
    "ReasoningRequest",
    "VideoSignals",
    "brief_from_analysis",
]
