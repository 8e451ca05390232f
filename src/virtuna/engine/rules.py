"""Rule scoring: a versioned library of regex and LLM-judged (semantic) rules.

Fixes over the earlier engine (ENGINE_SPEC §8.5): weights appear in the numerator *and* the
denominator; only rules that were actually evaluated count, so a semantic rule with no
evaluator (or a failed evaluation) is excluded with a warning instead of silently deflating
the score; an empty evaluation is "unavailable" (None), not 50; semantic answers are mapped
back by exact, unique rule name; platform rules for TikTok are loaded.

    score = 100 · Σ weight·(rule_score / max_score) / Σ weight    (over evaluated rules)

A regex rule scores its ``max_score`` when it matches the cleaned caption and 0 when not.
A video rule tests one measured signal of an uploaded video (``signal`` within
``[min_value, max_value]``): ``max_score`` inside the range, 0 outside; without a video (or
when the signal is not measurable, e.g. loudness of a silent file) it is not evaluated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal, Protocol

from virtuna.engine.video import VIDEO_SIGNAL_NAMES, VideoSignals

RuleTier = Literal["regex", "semantic", "video"]
PLATFORM = "tiktok"
DEFAULT_RULES_RESOURCE = "rules.v1.json"


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    category: str
    tier: RuleTier
    weight: float = 1.0
    max_score: float = 10.0
    platform: str | None = None
    pattern: str | None = None
    evaluation_prompt: str | None = None
    description: str = ""
    suggestion: str | None = None
    active: bool = True
    positive_examples: tuple[str, ...] = ()
    negative_examples: tuple[str, ...] = ()
    measured_lift: float | None = None  # filled in by the service once outcomes exist
    signal: str | None = None  # video rules: which VideoSignals value they test
    min_value: float | None = None
    max_value: float | None = None

    def __post_init__(self) -> None:
        if self.weight <= 0 or self.max_score <= 0:
            raise ValueError(f"rule {self.name!r}: weight and max_score must be positive")
        if self.tier == "video":
            if self.signal not in VIDEO_SIGNAL_NAMES:
                raise ValueError(f"video rule {self.name!r}: unknown signal {self.signal!r}")
            if self.min_value is None and self.max_value is None:
                raise ValueError(f"video rule {self.name!r} needs min_value or max_value")
        if self.tier == "regex" and not self.pattern:
            raise ValueError(f"regex rule {self.name!r} has no pattern")
        if self.tier == "semantic" and not self.evaluation_prompt:
            raise ValueError(f"semantic rule {self.name!r} has no evaluation_prompt")


@dataclass(frozen=True, slots=True)
class RuleMatch:
    rule_name: str
    category: str
    tier: RuleTier
    score: float  # in [0, max_score]
    max_score: float
    weight: float


@dataclass(frozen=True, slots=True)
class SemanticEvaluation:
    """An evaluator's answer: 0–10 per rule, keyed by the exact rule name it was given."""

    scores: Mapping[str, float]
    cost_cents: float = 0.0
    provider: str | None = None
    model: str | None = None
    prompt_version: str | None = None


class SemanticRuleEvaluator(Protocol):
    """Judges all semantic rules for one draft in a single call."""

    async def evaluate(self, text: str, rules: Sequence[Rule]) -> SemanticEvaluation: ...


@dataclass(frozen=True, slots=True)
class RuleResult:
    score: float | None  # None when no rule could be evaluated
    matches: tuple[RuleMatch, ...]  # every evaluated rule that scored above 0
    evaluated: tuple[str, ...]  # names of the rules that counted in the denominator
    missed: tuple[Rule, ...]  # evaluated regex/video rules that did not fire (suggestions)
    warnings: tuple[str, ...] = ()
    cost_cents: float = 0.0
    provider: str | None = None


def rule_from_mapping(data: Mapping[str, Any]) -> Rule:
    """Build a ``Rule`` from a JSON/DB row; unknown keys are an error, not silently dropped."""
    values = dict(data)
    for key in ("positive_examples", "negative_examples"):
        values[key] = tuple(values.get(key) or ())
    return Rule(**values)


def load_default_rules() -> list[Rule]:
    """The packaged seed library (``engine/data/rules.v1.json``)."""
    text = (
        resources.files("virtuna.engine")
        .joinpath("data", DEFAULT_RULES_RESOURCE)
        .read_text(encoding="utf-8")
    )
    return [rule_from_mapping(row) for row in json.loads(text)["rules"]]


class RuleSet:
    """Active rules for one platform with their regexes compiled once (hot path)."""

    def __init__(self, rules: Sequence[Rule], *, platform: str = PLATFORM) -> None:
        names = [r.name for r in rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique: {duplicates}")
        active = [r for r in rules if r.active and r.platform in (None, platform)]
        self.regex_rules: tuple[tuple[Rule, re.Pattern[str]], ...] = tuple(
            (r, re.compile(r.pattern or "", re.IGNORECASE)) for r in active if r.tier == "regex"
        )
        self.semantic_rules: tuple[Rule, ...] = tuple(r for r in active if r.tier == "semantic")
        self.video_rules: tuple[Rule, ...] = tuple(r for r in active if r.tier == "video")

    def __len__(self) -> int:
        return len(self.regex_rules) + len(self.semantic_rules) + len(self.video_rules)

    def regex_matches(self, text: str) -> list[tuple[Rule, bool]]:
        return [(rule, bool(pattern.search(text))) for rule, pattern in self.regex_rules]

    def video_grades(self, video: VideoSignals | None) -> list[tuple[Rule, float]]:
        """Video rules whose signal was measured: ``max_score`` inside the range, else 0."""
        if video is None:
            return []
        values = video.values()
        graded: list[tuple[Rule, float]] = []
        for rule in self.video_rules:
            value = values.get(rule.signal or "")
            if value is None:
                continue
            low = rule.min_value if rule.min_value is not None else float("-inf")
            high = rule.max_value if rule.max_value is not None else float("inf")
            graded.append((rule, rule.max_score if low <= value <= high else 0.0))
        return graded

    async def score(
        self,
        text: str,
        evaluator: SemanticRuleEvaluator | None,
        video: VideoSignals | None = None,
    ) -> RuleResult:
        """Regex (and video) rules always; semantic rules only through ``evaluator``.
        Evaluator errors propagate so the pipeline can report them; use
        ``score_regex_only`` as the fallback."""
        graded: list[tuple[Rule, float]] = [
            (rule, rule.max_score if hit else 0.0) for rule, hit in self.regex_matches(text)
        ]
        graded += self.video_grades(video)
        warnings: list[str] = []
        evaluation: SemanticEvaluation | None = None
        if self.semantic_rules and evaluator is None:
            warnings.append(self._skipped_warning("no semantic rule evaluator is configured"))
        elif self.semantic_rules and evaluator is not None:
            evaluation = await evaluator.evaluate(text, self.semantic_rules)
            graded += self._semantic_grades(evaluation, warnings)
        return _combine(graded, warnings, evaluation)

    def score_regex_only(
        self, text: str, reason: str, video: VideoSignals | None = None
    ) -> RuleResult:
        graded = [(r, r.max_score if hit else 0.0) for r, hit in self.regex_matches(text)]
        graded += self.video_grades(video)
        warnings = [self._skipped_warning(reason)] if self.semantic_rules else []
        return _combine(graded, warnings, None)

    def _skipped_warning(self, reason: str) -> str:
        names = ", ".join(r.name for r in self.semantic_rules)
        return (
            f"{len(self.semantic_rules)} semantic rules not evaluated ({reason}); "
            f"excluded from the rules score: {names}"
        )

    def _semantic_grades(
        self, evaluation: SemanticEvaluation, warnings: list[str]
    ) -> list[tuple[Rule, float]]:
        by_name = {r.name: r for r in self.semantic_rules}
        unknown = sorted(set(evaluation.scores) - set(by_name))
        if unknown:
            warnings.append(f"semantic evaluator answered for unknown rules, ignored: {unknown}")
        graded: list[tuple[Rule, float]] = []
        for name, rule in by_name.items():
            raw = evaluation.scores.get(name)
            if raw is None or not 0 <= raw <= 10:
                warnings.append(f"semantic rule {name} got no valid score; excluded")
                continue
            graded.append((rule, raw / 10 * rule.max_score))
        return graded


def _combine(
    graded: list[tuple[Rule, float]], warnings: list[str], evaluation: SemanticEvaluation | None
) -> RuleResult:
    total_weight = sum(rule.weight for rule, _ in graded)
    score = None
    if total_weight > 0:
        weighted = sum(rule.weight * value / rule.max_score for rule, value in graded)
        score = round(100 * weighted / total_weight, 1)
    matches = tuple(
        RuleMatch(r.name, r.category, r.tier, round(v, 2), r.max_score, r.weight)
        for r, v in graded
        if v > 0
    )
    return RuleResult(
        score=score,
        matches=matches,
        evaluated=tuple(r.name for r, _ in graded),
        missed=tuple(r for r, v in graded if r.tier != "semantic" and v == 0),
        warnings=tuple(warnings),
        cost_cents=evaluation.cost_cents if evaluation else 0.0,
        provider=_provider_label(evaluation),
    )


def _provider_label(evaluation: SemanticEvaluation | None) -> str | None:
    if evaluation is None or evaluation.provider is None:
        return None
    return provenance(evaluation.provider, evaluation.model, evaluation.prompt_version)


def provenance(provider: str, model: str | None, prompt_version: str | None) -> str:
    """``provider:model`` plus ``@prompt-version`` when a versioned prompt was used."""
    label = f"{provider}:{model}" if model else provider
    return f"{label}@{prompt_version}" if prompt_version else label


def category_score(result: RuleResult, rules: RuleSet, categories: set[str]) -> float | None:
    """Weighted 0–10 share of the evaluated rules in ``categories`` that fired."""
    chosen = [rule for rule, _ in rules.regex_rules if rule.category in categories]
    chosen += [r for r in (*rules.semantic_rules, *rules.video_rules) if r.category in categories]
    evaluated = [r for r in chosen if r.name in result.evaluated]
    if not evaluated:
        return None
    scores = {m.rule_name: m.score / m.max_score for m in result.matches}
    total = sum(r.weight for r in evaluated)
    return round(10 * sum(r.weight * scores.get(r.name, 0.0) for r in evaluated) / total, 1)


__all__ = [
    "Rule",
    "RuleMatch",
    "RuleResult",
    "RuleSet",
    "RuleTier",
    "SemanticEvaluation",
    "SemanticRuleEvaluator",
    "category_score",
    "provenance",
    "load_default_rules",
    "rule_from_mapping",
]
