"""Turn stage outputs into the ``AnalysisResult``: signals, blend, warnings, provenance."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from time import perf_counter

from virtuna.engine import aggregate
from virtuna.engine.aggregate import Weights
from virtuna.engine.bundle_meta import FALLBACK_SUFFIX
from virtuna.engine.explain import StageOutputs, build_factors, build_suggestions
from virtuna.engine.result import (
    AnalysisResult,
    BehavioralPredictions,
    MatchedTrend,
    SignalReport,
    StageStatus,
    StageTiming,
)
from virtuna.engine.rules import RuleSet, provenance
from virtuna.engine.trends import is_generic_hashtag

_log = logging.getLogger("virtuna.engine")
LLM_KEYS_HINT = "set GEMINI_API_KEY, DEEPSEEK_API_KEY or OPENAI_COMPAT_BASE_URL"
HOW_TO_ENABLE: dict[str, str] = {
    "behavioral": f"no reasoning model configured ({LLM_KEYS_HINT})",
    "llm_content": f"no content analyzer configured ({LLM_KEYS_HINT})",
    "ml": "no trained model bundle loaded (train one with `virtuna ml train`)",
    "trends": "no trend snapshot for this time (ingest scraped videos with `virtuna ingest`)",
    "creator": "creator unknown (pass creator_handle with ingested history, or creator_followers)",
    "rules": "no active rules",
}
STAGE_OF_SIGNAL = {
    "behavioral": "reasoner",
    "llm_content": "content",
    "ml": "ml",
    "trends": "trends",
    "creator": "creator",
    "rules": "rules",
}


@dataclass(slots=True)
class RunLog:
    """What one analysis accumulates besides stage outputs."""

    timings: list[StageTiming] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)

    def record(
        self,
        stage: str,
        status: StageStatus,
        start: float,
        error: str | None,
        *,
        cost_cents: float = 0.0,
    ) -> None:
        duration = round((perf_counter() - start) * 1000, 3) if status != "skipped" else 0.0
        timing = StageTiming(stage=stage, status=status, duration_ms=duration, error=error)
        self.timings.append(timing)
        # OBS-04: one line per stage (request_id comes from the caller's logging context).
        _log.info(
            "engine.stage.completed",
            extra={"stage": stage, "status": status, "duration_ms": duration,
                   "cost_cents": cost_cents},
        )  # fmt: skip
        if status in ("failed", "timeout"):
            self.failed.add(stage)


@dataclass(frozen=True, slots=True)
class EngineSetup:
    """Which optional parts the engine was built with (to tell "absent" from "failed")."""

    rules: RuleSet
    weights: Weights
    has_content_analyzer: bool
    has_reasoner: bool
    predictor_version: str | None
    engine_version: str


def signal_scores(out: StageOutputs) -> dict[str, float | None]:
    return {
        "behavioral": round(out.reasoning.score, 1) if out.reasoning else None,
        "llm_content": round(out.content.score, 1) if out.content else None,
        "ml": out.ml.score if out.ml else None,
        "rules": out.rules.score if out.rules else None,
        "trends": out.trends.score if out.trends else None,
        "creator": out.creator.score if out.creator else None,
    }


def assemble_result(
    out: StageOutputs, run: RunLog, setup: EngineSetup, *, started: float
) -> AnalysisResult:
    scores = signal_scores(out)
    available = {name for name, value in scores.items() if value is not None}
    overall = aggregate.blend(setup.weights, scores)
    llm_configured = setup.has_content_analyzer or setup.has_reasoner
    llm_failed = llm_configured and out.content is None and out.reasoning is None
    conf = aggregate.confidence(scores, llm_failed=llm_failed)
    tier = aggregate.tier_for(overall) if overall is not None else None
    warnings = _warnings(out, run, setup, available, llm_failed, conf)
    return AnalysisResult(
        overall_score=overall,
        tier=tier,
        tier_label=aggregate.TIER_LABELS[tier - 1] if tier else None,
        tier_probabilities=list(out.ml.tier_probabilities) if out.ml else None,
        confidence=conf,
        confidence_label=aggregate.confidence_label(conf),
        is_calibrated=False,
        factors=build_factors(out, setup.rules),
        suggestions=build_suggestions(out),
        behavioral_predictions=_behavioral(out),
        matched_trends=_matched_trends(out),
        signals=_signal_reports(scores, setup.weights, run),
        warnings=warnings,
        latency_ms=round((perf_counter() - started) * 1000, 3),
        cost_cents=_cost(out),
        engine_version=setup.engine_version,
        model_version=out.ml.model_version if out.ml else setup.predictor_version,
        providers=_providers(out),
        input_mode=out.draft.input_mode,
        feature_vector=feature_vector(out, scores),
        stage_timings=list(run.timings),
    )


def _signal_reports(
    scores: dict[str, float | None], base: Weights, run: RunLog
) -> dict[str, SignalReport]:
    available = {name for name, value in scores.items() if value is not None}
    weights = aggregate.select_weights(base, available)
    notes = base.for_available(available)  # fitted weights explain themselves
    return {
        name: SignalReport(
            available=name in available,
            score=scores[name],
            weight=weights[name],
            detail=notes.note(name) if name in available else _why_missing(name, run),
        )
        for name in aggregate.SIGNALS
    }


def _why_missing(signal: str, run: RunLog) -> str:
    stage = STAGE_OF_SIGNAL[signal]
    if stage in run.failed:
        return f"the {stage} stage failed or timed out"
    return HOW_TO_ENABLE[signal]


def _warnings(
    out: StageOutputs,
    run: RunLog,
    setup: EngineSetup,
    available: set[str],
    llm_failed: bool,
    conf: float,
) -> list[str]:
    warnings = list(run.warnings)
    if out.rules is not None:
        warnings += out.rules.warnings
    if out.creator is not None:
        warnings += out.creator.warnings
    if out.reasoning is not None:
        warnings += [f"reasoner: {w}" for w in out.reasoning.warnings]
    missing = [name for name in aggregate.SIGNALS if name not in available]
    if missing:
        reasons = "; ".join(f"{name}: {_why_missing(name, run)}" for name in missing)
        warnings.append(f"Missing signals, weights redistributed to the rest — {reasons}")
    if llm_failed:
        warnings.append(
            "Both language-model stages failed: partial result from local signals only "
            "(confidence LOW)."
        )
    warnings += _input_warnings(out)
    if conf < 0.4 and not llm_failed:
        warnings.append("Low confidence: few independent signals, or they disagree.")
    return list(dict.fromkeys(warnings))


def _input_warnings(out: StageOutputs) -> list[str]:
    """What the scored input lacked: a known creator for the model, the video for an LLM."""
    warnings: list[str] = []
    if out.ml is not None and out.ml.model_version.endswith(FALLBACK_SUFFIX):
        warnings.append(
            "Creator unknown (no follower count): the model scored the draft from its "
            "content, timing and trends alone, a much weaker estimate than with the "
            "creator's followers and history (docs/MODEL_CARD.md, 'Drafts without a known "
            "creator'). Give creator_followers (CLI: --followers), or a creator the database "
            "knows, for a sharper one."
        )
    seen = out.content is not None and (out.content.video_signals or out.content.video_seen)
    if out.draft.has_video and not seen and out.draft.video is not None:
        warnings.append(
            "No language model watched the video; its measured signals (duration, format, "
            "audio, cuts) and the caption were scored."
        )
    elif out.draft.has_video and not seen:
        warnings.append(
            "The video itself was not analysed; the score reflects the caption and context only."
        )
    return warnings


def _behavioral(out: StageOutputs) -> BehavioralPredictions | None:
    if out.reasoning is None or out.reasoning.behavioral is None:
        return None
    b = out.reasoning.behavioral
    return BehavioralPredictions(
        completion_pct=b.completion_pct,
        share_pct=b.share_pct,
        comment_pct=b.comment_pct,
        save_pct=b.save_pct,
        source=f"{out.reasoning.provider}:{out.reasoning.model}",
    )


def _matched_trends(out: StageOutputs) -> list[MatchedTrend]:
    if out.trends is None:
        return []
    return [
        MatchedTrend(
            kind=m.kind, name=m.name, phase=m.phase, velocity=m.velocity, similarity=m.similarity
        )
        for m in out.trends.matches
    ]


def _cost(out: StageOutputs) -> float:
    total = (out.content.cost_cents if out.content else 0.0) + (
        out.reasoning.cost_cents if out.reasoning else 0.0
    )
    total += out.rules.cost_cents if out.rules else 0.0
    return round(total, 4)


def _providers(out: StageOutputs) -> list[str]:
    labels = []
    if out.content is not None:
        c = out.content
        labels.append(provenance(c.provider, c.model, c.prompt_version))
    if out.reasoning is not None:
        r = out.reasoning
        labels.append(provenance(r.provider, r.model, r.prompt_version))
    if out.rules is not None and out.rules.provider:
        labels.append(out.rules.provider)
    if out.ml is not None:
        labels.append(f"ml:{out.ml.model_version}")
    return list(dict.fromkeys(labels))


def feature_vector(out: StageOutputs, scores: dict[str, float | None]) -> dict[str, float | None]:
    """Flat numbers persisted with the analysis, so later fits can learn signal weights."""
    d = out.draft
    vector: dict[str, float | None] = {f"{name}_score": value for name, value in scores.items()}
    vector |= {
        "hashtag_count": float(len(d.hashtags)),
        "specific_hashtag_count": float(sum(not is_generic_hashtag(t) for t in d.hashtags)),
        "mention_count": float(len(d.mentions)),
        "emoji_count": float(d.emoji_count),
        "word_count": float(len(d.words)),
        "char_count": float(len(d.text)),
        "duration_seconds": d.duration_seconds,
        "has_video": 1.0 if d.has_video else 0.0,
        "hashtag_relevance": out.trends.hashtag_relevance if out.trends else None,
    }
    if d.video is not None:  # stored for later fits; not a feature of the ML model
        vector |= {f"video.{name}": value for name, value in d.video.values().items()}
    if out.rules is not None:
        hits = {m.rule_name for m in out.rules.matches}
        vector |= {f"rule.{name}": 1.0 if name in hits else 0.0 for name in out.rules.evaluated}
    if out.content is not None:
        vector |= {f"factor.{f.name}": f.score for f in out.content.factors}
    if out.reasoning is not None:
        vector |= {f"component.{k}": v for k, v in out.reasoning.components.items()}
    return vector
