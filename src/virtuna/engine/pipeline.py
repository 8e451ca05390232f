"""The engine: run the stages as a dependency graph and assemble an ``AnalysisResult``.

    normalize ──┬── rules (regex + optional semantic LLM) ───────────────┐
                ├── trends ──────────────┐                               │
                ├── creator ─────────────┼── reasoner (LLM) ─────────────┼── aggregate
                ├── content (LLM) ───────┘                               │
                └── ml (trained model) ──────────────────────────────────┘

Independent stages run concurrently; the reasoner starts when content, trends and creator
are done, so it reads the real trend and creator context (the earlier engine fed it a
placeholder). Every stage has its own timeout. Only validation is fatal: a failing or
timed-out stage becomes a warning and an unavailable signal, and the result says so.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from time import perf_counter
from typing import Any, TypeVar

from virtuna.engine.aggregate import Weights
from virtuna.engine.assemble import EngineSetup, RunLog, assemble_result
from virtuna.engine.creator import (
    DEFAULT_QUANTILES,
    CreatorSignal,
    ReferenceQuantiles,
    creator_signal,
)
from virtuna.engine.draft import Draft, parse_draft
from virtuna.engine.errors import DraftValidationError, FieldError
from virtuna.engine.explain import StageOutputs
from virtuna.engine.llm.ledger import llm_deadline, remaining_budget
from virtuna.engine.llm.protocols import (
    ContentAnalysis,
    ContentAnalyzer,
    ContentRequest,
    Reasoner,
    Reasoning,
    ReasoningRequest,
    brief_from_analysis,
)
from virtuna.engine.llm.provider import VideoAttachment
from virtuna.engine.ml import Predictor, build_ml_input, check_prediction, merge_creator
from virtuna.engine.normalize import NormalizedDraft, normalize_draft
from virtuna.engine.result import AnalysisResult
from virtuna.engine.rules import (
    Rule,
    RuleResult,
    RuleSet,
    SemanticRuleEvaluator,
    load_default_rules,
)
from virtuna.engine.trends import TrendResult, match_trends
from virtuna.engine.types import CreatorContext, MLPrediction, TrendSnapshot

ENGINE_VERSION = "1.0.0"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StageTimeouts:
    """Seconds per stage. LLM stages get room for one slow call; local stages are fast, so a
    tight timeout there only catches a bug (e.g. a pathological regex)."""

    rules: float = 15.0  # includes the optional semantic-rule LLM call
    trends: float = 2.0
    creator: float = 2.0
    ml: float = 5.0
    content: float = 30.0
    reasoner: float = 45.0


class Engine:
    def __init__(
        self,
        *,
        content_analyzer: ContentAnalyzer | None = None,
        reasoner: Reasoner | None = None,
        semantic_evaluator: SemanticRuleEvaluator | None = None,
        predictor: Predictor | None = None,
        rules: Sequence[Rule] | None = None,
        weights: Weights | None = None,
        timeouts: StageTimeouts | None = None,
        creator_quantiles: ReferenceQuantiles = DEFAULT_QUANTILES,
        logger: logging.Logger | None = None,
        engine_version: str = ENGINE_VERSION,
        llm_deadline_seconds: float | None = None,
    ) -> None:
        self.content_analyzer = content_analyzer
        self.reasoner = reasoner
        self.semantic_evaluator = semantic_evaluator
        self.predictor = predictor
        self.rules = RuleSet(load_default_rules() if rules is None else rules)
        self.weights = weights or Weights()
        self.timeouts = timeouts or StageTimeouts()
        self.creator_quantiles = creator_quantiles
        self.engine_version = engine_version
        # One deadline for all LLM work of an analysis: when it passes, what is ready is used.
        self.llm_deadline_seconds = llm_deadline_seconds
        self._log = logger or logging.getLogger("virtuna.engine")
        self._setup = EngineSetup(
            rules=self.rules,
            weights=self.weights,
            has_content_analyzer=content_analyzer is not None,
            has_reasoner=reasoner is not None,
            predictor_version=predictor.version if predictor is not None else None,
            engine_version=engine_version,
        )

    def with_model(self, predictor: Predictor | None, weights: Weights) -> Engine:
        """This engine serving another model (hot reload): a new object, so a request in
        flight keeps the model and weights it started with; LLM roles, rules and timeouts
        are shared."""
        clone = copy.copy(self)
        clone.predictor, clone.weights = predictor, weights
        clone._setup = replace(
            self._setup,
            weights=weights,
            predictor_version=predictor.version if predictor is not None else None,
        )
        return clone

    async def analyze(
        self,
        draft: Draft | Mapping[str, Any],
        *,
        creator: CreatorContext | None = None,
        trends: TrendSnapshot | None = None,
        now: datetime,
    ) -> AnalysisResult:
        """Score one draft. Raises ``DraftValidationError`` for bad input, nothing else."""
        started = perf_counter()
        valid = draft if isinstance(draft, Draft) else parse_draft(draft)
        run = RunLog()
        normalized = self._timed(run, "normalize", lambda: normalize_draft(valid))
        with llm_deadline(self.llm_deadline_seconds):
            outputs = await self._run_graph(run, normalized, creator, trends, now)
        result = assemble_result(outputs, run, self._setup, started=started)
        self._log.info(
            "engine.analysis.completed",
            extra={"duration_ms": result.latency_ms, "cost_cents": result.cost_cents},
        )
        return result

    async def analyze_many(
        self,
        drafts: Sequence[Draft | Mapping[str, Any]],
        *,
        creators: Sequence[CreatorContext | None] | None = None,
        trends: TrendSnapshot | None = None,
        now: datetime,
        concurrency: int = 16,
    ) -> list[AnalysisResult]:
        """Score many drafts concurrently, results in input order. Every draft is validated
        first, so one bad draft fails the batch before any work (errors name its index)."""
        if creators is not None and len(creators) != len(drafts):
            raise ValueError("creators must be as long as drafts")
        valid = _parse_all(drafts)
        gate = asyncio.Semaphore(max(1, concurrency))

        async def one(index: int) -> AnalysisResult:
            async with gate:
                ctx = creators[index] if creators is not None else None
                return await self.analyze(valid[index], creator=ctx, trends=trends, now=now)

        return list(await asyncio.gather(*(one(i) for i in range(len(valid)))))

    def _timed(self, run: RunLog, stage: str, work: Callable[[], T]) -> T:
        start = perf_counter()
        value = work()
        run.record(stage, "ok", start, None)
        return value

    async def _run_graph(
        self,
        run: RunLog,
        draft: NormalizedDraft,
        creator: CreatorContext | None,
        trends: TrendSnapshot | None,
        now: datetime,
    ) -> StageOutputs:
        context = merge_creator(creator, draft, now)
        t = self.timeouts
        async with asyncio.TaskGroup() as group:
            rules = group.create_task(
                self._stage(run, "rules", t.rules + 1, lambda: self._rules(draft))
            )
            trend = group.create_task(
                self._stage(run, "trends", t.trends, lambda: _sync(match_trends, draft, trends))
            )
            signal = group.create_task(
                self._stage(
                    run,
                    "creator",
                    t.creator,
                    lambda: _sync(creator_signal, context, self.creator_quantiles),
                )
            )
            ml = group.create_task(self._ml(run, draft, context, trends, now))
            content = group.create_task(self._content(run, draft))
            reasoning = group.create_task(self._reasoning(run, draft, content, trend, signal))
        return StageOutputs(
            draft=draft,
            rules=rules.result(),
            trends=trend.result(),
            creator=signal.result(),
            ml=ml.result(),
            content=content.result(),
            reasoning=reasoning.result(),
        )

    async def _stage(
        self, run: RunLog, stage: str, timeout: float, work: Callable[[], Awaitable[T]]
    ) -> T | None:
        start = perf_counter()
        try:
            async with asyncio.timeout(timeout):
                value = await work()
        except TimeoutError:
            run.record(stage, "timeout", start, f"timed out after {timeout:g}s")
            run.warnings.append(
                f"{stage} stage timed out after {timeout:g}s; its signal is unavailable"
            )
            return None
        except Exception as exc:  # a non-critical stage must not sink the analysis
            message = f"{type(exc).__name__}: {exc}"
            run.record(stage, "failed", start, message)
            run.warnings.append(f"{stage} stage failed ({message}); its signal is unavailable")
            self._log.warning("engine.stage.failed", extra={"stage": stage, "error": message})
            return None
        cost = getattr(value, "cost_cents", 0.0)  # LLM-backed outputs carry their spend
        run.record(stage, "ok", start, None, cost_cents=cost if isinstance(cost, float) else 0.0)
        return value

    async def _rules(self, draft: NormalizedDraft) -> RuleResult:
        """Regex rules always count; a failing or slow semantic evaluator only drops the
        semantic rules (with a warning), so it gets its own, inner timeout."""
        if self.semantic_evaluator is None:
            return await self.rules.score(draft.text, None, draft.video)
        limit = _llm_timeout(self.timeouts.rules)
        try:
            async with asyncio.timeout(limit):
                return await self.rules.score(draft.text, self.semantic_evaluator, draft.video)
        except TimeoutError:
            reason = f"evaluator timed out after {limit:g}s"
        except Exception as exc:
            reason = f"evaluator failed: {type(exc).__name__}: {exc}"
        return self.rules.score_regex_only(draft.text, reason, draft.video)

    async def _ml(
        self,
        run: RunLog,
        draft: NormalizedDraft,
        creator: CreatorContext | None,
        trends: TrendSnapshot | None,
        now: datetime,
    ) -> MLPrediction | None:
        predictor = self.predictor
        if predictor is None:
            run.record("ml", "skipped", perf_counter(), "no model loaded")
            return None
        inp = build_ml_input(draft, creator=creator, trends=trends, now=now)

        # In a thread so a slow model cannot stall the event loop; on timeout the thread is
        # abandoned (Python cannot kill it) but its answer is ignored.
        async def predict() -> MLPrediction:
            return check_prediction(await asyncio.to_thread(predictor.predict, inp))

        return await self._stage(run, "ml", self.timeouts.ml, predict)

    async def _content(self, run: RunLog, draft: NormalizedDraft) -> ContentAnalysis | None:
        analyzer = self.content_analyzer
        if analyzer is None:
            run.record("content", "skipped", perf_counter(), "no content analyzer configured")
            return None
        request = ContentRequest(
            text=draft.text,
            content_type=draft.content_type,
            input_mode=draft.input_mode,
            niche=draft.niche,
            language=draft.language,
            hashtags=draft.hashtags,
            duration_seconds=draft.duration_seconds,
            video_ref=draft.video_ref,
            video=_attachment(draft),
        )
        return await self._stage(
            run, "content", _llm_timeout(self.timeouts.content), lambda: analyzer.analyze(request)
        )

    async def _reasoning(
        self,
        run: RunLog,
        draft: NormalizedDraft,
        content: asyncio.Task[ContentAnalysis | None],
        trends: asyncio.Task[TrendResult | None],
        creator: asyncio.Task[CreatorSignal | None],
    ) -> Reasoning | None:
        analysis, trend, signal = await content, await trends, await creator
        reasoner = self.reasoner
        if reasoner is None:
            run.record("reasoner", "skipped", perf_counter(), "no reasoner configured")
            return None
        request = ReasoningRequest(
            text=draft.text,
            content_type=draft.content_type,
            input_mode=draft.input_mode,
            niche=draft.niche,
            hashtags=draft.hashtags,
            duration_seconds=draft.duration_seconds,
            content_brief=brief_from_analysis(analysis) if analysis else None,
            trend_context=trend.context_text if trend else "Trend data unavailable.",
            creator_context=signal.context_text if signal else "Creator context unavailable.",
        )
        return await self._stage(
            run, "reasoner", _llm_timeout(self.timeouts.reasoner), lambda: reasoner.reason(request)
        )


def _attachment(draft: NormalizedDraft) -> VideoAttachment | None:
    """The upload a video-capable content model may see: only a file the service stored and
    measured (``video`` is never taken from a client), in a container we sniffed."""
    video = draft.video
    if draft.input_mode != "video_upload" or video is None or not draft.video_ref:
        return None
    if video.mime_type is None or video.size_bytes is None:
        return None
    return VideoAttachment(
        path=draft.video_ref, mime_type=video.mime_type, size_bytes=video.size_bytes
    )


def _llm_timeout(stage_timeout: float) -> float:
    """The stage's own timeout, cut to what is left of the request's LLM deadline."""
    remaining = remaining_budget()
    return stage_timeout if remaining is None else round(max(0.0, min(stage_timeout, remaining)), 3)


async def _sync(func: Callable[..., T], *args: Any) -> T:
    """Run a fast, pure local stage inside the graph (no thread: it takes microseconds)."""
    return func(*args)


def _parse_all(drafts: Sequence[Draft | Mapping[str, Any]]) -> list[Draft]:
    valid: list[Draft] = []
    errors: list[FieldError] = []
    for index, item in enumerate(drafts):
        try:
            valid.append(item if isinstance(item, Draft) else parse_draft(item))
        except DraftValidationError as exc:
            errors += [
                {"field": f"[{index}].{e['field']}", "message": e["message"]} for e in exc.errors
            ]
    if errors:
        raise DraftValidationError(errors)
    return valid
