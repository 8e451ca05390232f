"""Factors and suggestions: what the user reads next to the score.

With a content analyzer the five factors are its judgements. Without one they are derived
from local signals only, and each reason says what it is based on; a factor whose source is
unavailable has no score (``None``) rather than a made-up neutral number.
"""

from __future__ import annotations

from dataclasses import dataclass

from virtuna.engine.creator import CreatorSignal
from virtuna.engine.llm.protocols import ContentAnalysis, Reasoning
from virtuna.engine.normalize import NormalizedDraft
from virtuna.engine.result import Factor, Suggestion
from virtuna.engine.rules import RuleResult, RuleSet, category_score
from virtuna.engine.trends import TrendResult, is_generic_hashtag
from virtuna.engine.types import MLPrediction

MAX_SUGGESTIONS = 8
HOOK_CATEGORIES = {"hook"}
CRAFT_CATEGORIES = {"text", "retention", "content", "creator"}


@dataclass(frozen=True, slots=True)
class StageOutputs:
    draft: NormalizedDraft
    rules: RuleResult | None = None
    trends: TrendResult | None = None
    creator: CreatorSignal | None = None
    ml: MLPrediction | None = None
    content: ContentAnalysis | None = None
    reasoning: Reasoning | None = None


def build_factors(out: StageOutputs, rules: RuleSet) -> list[Factor]:
    if out.content is not None:
        return [
            Factor(
                name=f.name, score=f.score, reason=f.rationale, improvement_tip=f.improvement_tip
            )
            for f in out.content.factors
        ]
    return [
        _rule_factor("Hook", out.rules, rules, HOOK_CATEGORIES),
        _trend_factor(out.trends),
        _creator_factor(out.creator),
        _rule_factor("Caption craft", out.rules, rules, CRAFT_CATEGORIES),
        _model_factor(out.ml),
    ]


def _rule_factor(
    name: str, result: RuleResult | None, rules: RuleSet, categories: set[str]
) -> Factor:
    score = category_score(result, rules, categories) if result else None
    if result is None or score is None:
        return Factor(name=name, score=None, reason="Not available: rule scoring did not run.")
    hits = [m.rule_name for m in result.matches if m.category in categories]
    if hits:
        video = any(m.tier == "video" for m in result.matches if m.category in categories)
        reason = f"{'Video and caption' if video else 'Caption'} patterns found: {', '.join(hits)}."
    else:
        reason = "No caption pattern of this kind found (checked: rule library, caption text)."
    return Factor(name=name, score=score, reason=reason)


def _trend_factor(trends: TrendResult | None) -> Factor:
    if trends is None or trends.score is None:
        return Factor(name="Trend fit", score=None, reason="Not available: no trend snapshot.")
    names = [f"{m.kind} {m.name}" for m in trends.matches]
    reason = (
        f"Matches current trends: {', '.join(names)}." if names else "Matches no current trend."
    )
    return Factor(name="Trend fit", score=round(trends.score / 10, 1), reason=reason)


def _creator_factor(creator: CreatorSignal | None) -> Factor:
    if creator is None or creator.score is None:
        return Factor(
            name="Creator reach", score=None, reason="Not available: creator context unknown."
        )
    return Factor(
        name="Creator reach",
        score=round(creator.score / 10, 1),
        reason="Based on the creator's earlier views and followers versus reference creators.",
    )


def _model_factor(ml: MLPrediction | None) -> Factor:
    if ml is None:
        return Factor(name="Model outlook", score=None, reason="Not available: no trained model.")
    return Factor(
        name="Model outlook",
        score=round(ml.score / 10, 1),
        reason=f"Trained model {ml.model_version}: predicted views percentile {ml.percentile:.0%}.",
    )


def build_suggestions(out: StageOutputs) -> list[Suggestion]:
    items: list[Suggestion] = []
    if out.reasoning is not None:
        items += [
            Suggestion(text=s.text, priority=s.priority, category=s.category, source="reasoner")
            for s in out.reasoning.suggestions
        ]
    if out.content is not None:
        weak = sorted((f for f in out.content.factors if f.score < 6), key=lambda f: f.score)
        items += [
            Suggestion(
                text=f.improvement_tip,
                priority="medium",
                category=f.name,
                source="content_analyzer",
            )
            for f in weak[:2]
        ]
    items += _caption_suggestions(out.draft)
    items += _video_suggestions(out.rules)
    items += _rule_suggestions(out.rules)
    items += _trend_suggestions(out.draft, out.trends)
    unique = {s.text: s for s in reversed(items)}  # first occurrence wins
    ordered = [s for s in items if unique.get(s.text) is s]
    return ordered[:MAX_SUGGESTIONS]


def _caption_suggestions(draft: NormalizedDraft) -> list[Suggestion]:
    if not draft.body:
        return [
            Suggestion(
                text="Write a caption: one short sentence stating the hook gives viewers and "
                "search something to read.",
                priority="high",
                category="caption",
                source="caption",
            )
        ]
    return []


def _video_suggestions(rules: RuleResult | None) -> list[Suggestion]:
    """Every measured video defect (a missed video rule), heaviest first."""
    if rules is None:
        return []
    missed = sorted((r for r in rules.missed if r.tier == "video"), key=lambda r: -r.weight)
    return [
        Suggestion(
            text=rule.suggestion,
            priority="high" if rule.weight >= 1.0 else "medium",
            category=rule.category,
            source="video",
        )
        for rule in missed
        if rule.suggestion
    ]


def _rule_suggestions(rules: RuleResult | None) -> list[Suggestion]:
    if rules is None:
        return []
    matched = {m.category for m in rules.matches}
    items: list[Suggestion] = []
    for category, priority in (("hook", "high"), ("text", "medium"), ("retention", "low")):
        if category in matched:
            continue
        missed = sorted(
            (
                r
                for r in rules.missed
                if r.category == category and r.suggestion and r.tier != "video"
            ),
            key=lambda r: -r.weight,
        )
        if missed and missed[0].suggestion:
            items.append(
                Suggestion(
                    text=missed[0].suggestion, priority=priority, category=category, source="rules"
                )
            )
    return items


def _trend_suggestions(draft: NormalizedDraft, trends: TrendResult | None) -> list[Suggestion]:
    items: list[Suggestion] = []
    specific = [t for t in draft.hashtags if not is_generic_hashtag(t)]
    if not draft.hashtags:
        text = "Add 3–5 specific hashtags that name the topic; they are how TikTok files the video."
        items.append(
            Suggestion(text=text, priority="medium", category="hashtags", source="caption")
        )
    elif not specific:
        text = (
            "Replace generic tags (#fyp, #viral) with specific ones — catch-all tags earn little."
        )
        items.append(Suggestion(text=text, priority="medium", category="hashtags", source="trends"))
    if trends is not None and trends.suggested_hashtags:
        tags = ", ".join(f"#{t}" for t in trends.suggested_hashtags)
        text = f"Rising hashtags right now: {tags} — use them only if they fit the video."
        items.append(Suggestion(text=text, priority="low", category="hashtags", source="trends"))
    if trends is not None and trends.suggested_sound:
        text = f'Consider a rising sound such as "{trends.suggested_sound}" if it suits the video.'
        items.append(Suggestion(text=text, priority="low", category="audio", source="trends"))
    return items
