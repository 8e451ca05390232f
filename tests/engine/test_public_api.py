from __future__ import annotations

import ast
from pathlib import Path

import virtuna.engine

INTENDED = {
    "DEFAULT_QUANTILES", "ENGINE_VERSION", "TIER_LABELS", "AnalysisResult",
    "BehavioralPredictions", "ContentAnalyzer", "ContentType", "CreatorContext", "CreatorSignal",
    "Draft", "DraftValidationError", "Engine", "EngineError", "Factor", "FieldError",
    "HashtagTrend", "InputMode", "InvalidTikTokUrl", "LLMBadOutput", "LLMError",
    "LLMUnavailable", "MLPrediction", "MatchedTrend", "NormalizedDraft", "Predictor", "Reasoner",
    "ReferenceQuantiles", "Rule", "RuleMatch", "RuleResult", "RuleSet", "SemanticEvaluation",
    "SemanticRuleEvaluator", "SignalReport", "SoundTrend", "StageTimeouts", "StageTiming",
    "Suggestion", "TikTokUrl", "TrendMatch", "TrendPhase", "TrendResult", "TrendSnapshot",
    "Weights", "build_ml_input", "creator_signal", "extract_hashtags", "extract_mentions",
    "fit_reference_quantiles", "is_tiktok_url", "load_default_rules", "match_trends",
    "normalize_draft", "normalize_handle", "parse_draft", "parse_duration_hint",
    "parse_tiktok_url", "rule_from_mapping", "select_weights",
}  # fmt: skip


def test_public_surface_is_exactly_the_intended_list() -> None:
    assert set(virtuna.engine.__all__) == INTENDED
    assert len(virtuna.engine.__all__) == len(INTENDED)
    assert all(hasattr(virtuna.engine, name) for name in virtuna.engine.__all__)


BANNED = ("fastapi", "sqlalchemy", "alembic", "starlette", "virtuna.models", "virtuna.api",
          "virtuna.cli", "virtuna.worker", "virtuna.config", "virtuna.kit.db")  # fmt: skip


def imported_modules(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_engine_imports_no_framework_or_database() -> None:
    root = Path(virtuna.engine.__file__).parent
    offending = {
        f"{path.relative_to(root)}: {name}"
        for path in root.rglob("*.py")
        for name in imported_modules(path)
        if any(name == banned or name.startswith(banned + ".") for banned in BANNED)
    }
    assert offending == set()
