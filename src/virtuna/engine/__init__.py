"""Virtuna's prediction engine: a pure library, plain values in and plain values out.

Typical use::

    engine = Engine(rules=rules_from_db, predictor=bundle)   # LLM roles are optional
    result = await engine.analyze(parse_draft(body), creator=ctx, trends=snapshot, now=now)

No web framework, database or settings are imported here (enforced by import-linter); the
service layer builds ``CreatorContext`` and ``TrendSnapshot`` values and passes them in.
"""

from virtuna.engine.aggregate import TIER_LABELS, Weights, select_weights
from virtuna.engine.creator import (
    DEFAULT_QUANTILES,
    CreatorSignal,
    ReferenceQuantiles,
    creator_signal,
    fit_reference_quantiles,
)
from virtuna.engine.draft import ContentType, Draft, InputMode, normalize_handle, parse_draft
from virtuna.engine.errors import (
    DraftValidationError,
    EngineError,
    FieldError,
    LLMBadOutput,
    LLMError,
    LLMUnavailable,
)
from virtuna.engine.llm.protocols import ContentAnalyzer, Reasoner
from virtuna.engine.ml import Predictor, build_ml_input
from virtuna.engine.normalize import (
    NormalizedDraft,
    extract_hashtags,
    extract_mentions,
    normalize_draft,
    parse_duration_hint,
)
from virtuna.engine.pipeline import ENGINE_VERSION, Engine, StageTimeouts
from virtuna.engine.result import (
    AnalysisResult,
    BehavioralPredictions,
    Factor,
    MatchedTrend,
    SignalReport,
    StageTiming,
    Suggestion,
)
from virtuna.engine.rules import (
    Rule,
    RuleMatch,
    RuleResult,
    RuleSet,
    SemanticEvaluation,
    SemanticRuleEvaluator,
    load_default_rules,
    rule_from_mapping,
)
from virtuna.engine.trends import TrendMatch, TrendResult, match_trends
from virtuna.engine.types import (
    CreatorContext,
    HashtagTrend,
    MLPrediction,
    SoundTrend,
    TrendPhase,
    TrendSnapshot,
)
from virtuna.engine.urls import InvalidTikTokUrl, TikTokUrl, is_tiktok_url, parse_tiktok_url

__all__ = [
    "DEFAULT_QUANTILES",
    "ENGINE_VERSION",
    "TIER_LABELS",
    "AnalysisResult",
    "BehavioralPredictions",
    "ContentAnalyzer",
    "ContentType",
    "CreatorContext",
    "CreatorSignal",
    "Draft",
    "DraftValidationError",
    "Engine",
    "EngineError",
    "Factor",
    "FieldError",
    "HashtagTrend",
    "InputMode",
    "InvalidTikTokUrl",
    "LLMBadOutput",
    "LLMError",
    "LLMUnavailable",
    "MLPrediction",
    "MatchedTrend",
    "NormalizedDraft",
    "Predictor",
    "Reasoner",
    "ReferenceQuantiles",
    "Rule",
    "RuleMatch",
    "RuleResult",
    "RuleSet",
    "SemanticEvaluation",
    "SemanticRuleEvaluator",
    "SignalReport",
    "SoundTrend",
    "StageTimeouts",
    "StageTiming",
    "Suggestion",
    "TikTokUrl",
    "TrendMatch",
    "TrendPhase",
    "TrendResult",
    "TrendSnapshot",
    "Weights",
    "build_ml_input",
    "creator_signal",
    "extract_hashtags",
    "extract_mentions",
    "fit_reference_quantiles",
    "is_tiktok_url",
    "load_default_rules",
    "match_trends",
    "normalize_draft",
    "normalize_handle",
    "parse_draft",
    "parse_duration_hint",
    "parse_tiktok_url",
    "rule_from_mapping",
    "select_weights",
]
