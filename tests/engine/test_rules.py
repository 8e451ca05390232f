from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from virtuna.engine.llm.fakes import FakeSemanticEvaluator
from virtuna.engine.normalize import clean_text
from virtuna.engine.rules import (
    Rule,
    RuleSet,
    SemanticEvaluation,
    load_default_rules,
    rule_from_mapping,
)

DEFAULT_RULES = load_default_rules()
REGEX_RULES = [r for r in DEFAULT_RULES if r.tier == "regex"]
MAX_FIRING_SHARE = 0.60


def regex(rule: Rule) -> re.Pattern[str]:
    return re.compile(rule.pattern or "", re.IGNORECASE)


def test_library_loads_with_unique_names_and_both_tiers() -> None:
    names = [r.name for r in DEFAULT_RULES]
    assert len(names) == len(set(names))
    assert {"question_hook", "curiosity_gap", "negative_bias", "bold_claim", "story_hook"} <= set(
        names
    )
    assert {"payoff_delay", "pattern_interrupt", "info_density", "cta_clarity", "caption_hook"} <= (
        set(names)
    )
    assert {r.tier for r in DEFAULT_RULES} == {"regex", "semantic", "video"}
    assert all(r.evaluation_prompt for r in DEFAULT_RULES if r.tier == "semantic")


@pytest.mark.parametrize("rule", REGEX_RULES, ids=lambda r: r.name)
def test_regex_rule_examples(rule: Rule) -> None:
    assert rule.positive_examples
    assert rule.negative_examples
    pattern = regex(rule)
    for example in rule.positive_examples:
        assert pattern.search(clean_text(example)), f"{rule.name} missed {example!r}"
    for example in rule.negative_examples:
        assert not pattern.search(clean_text(example)), f"{rule.name} fired on {example!r}"


def test_no_regex_rule_fires_on_most_real_captions(real_captions: list[str]) -> None:
    assert len(real_captions) > 20_000
    cleaned = [clean_text(c) for c in real_captions]
    shares = {
        rule.name: sum(bool(regex(rule).search(c)) for c in cleaned) / len(cleaned)
        for rule in REGEX_RULES
    }
    too_broad = {name: share for name, share in shares.items() if share > MAX_FIRING_SHARE}
    assert not too_broad, f"rules fire on > 60% of real captions: {too_broad}"


def rule(name: str, tier: str = "regex", **kwargs: object) -> Rule:
    data: dict[str, object] = {"name": name, "category": "hook", "tier": tier, **kwargs}
    if tier == "regex":
        data.setdefault("pattern", rf"\b{name}\b")
    else:
        data.setdefault("evaluation_prompt", f"judge {name}")
    return rule_from_mapping(data)


async def test_weights_are_in_numerator_and_denominator() -> None:
    rules = RuleSet([rule("alpha", weight=3), rule("beta", weight=1)])
    result = await rules.score("alpha only", None)
    assert result.score == 75.0
    assert [(m.rule_name, m.score, m.max_score, m.tier) for m in result.matches] == [
        ("alpha", 10, 10, "regex")
    ]


async def test_semantic_rules_without_evaluator_are_excluded_with_a_warning() -> None:
    rules = RuleSet([rule("alpha"), rule("loop", "semantic", weight=5)])
    result = await rules.score("alpha", None)
    assert result.score == 100.0  # not deflated by the unevaluated semantic rule
    assert result.evaluated == ("alpha",)
    assert any("loop" in w and "not evaluated" in w for w in result.warnings)


class ExactEvaluator:
    def __init__(self, scores: dict[str, float]) -> None:
        self.scores = scores
        self.seen: list[str] = []

    async def evaluate(self, text: str, rules: Sequence[Rule]) -> SemanticEvaluation:
        self.seen = [r.name for r in rules]
        return SemanticEvaluation(self.scores, 0.02, "test", "judge-1")


async def test_semantic_scores_are_matched_by_exact_name() -> None:
    rules = RuleSet([rule("alpha"), rule("Loop", "semantic"), rule("arc", "semantic")])
    evaluator = ExactEvaluator({"Loop": 5.0, "loop": 10.0, "arc": 11.0})
    result = await rules.score("nothing", evaluator)
    assert evaluator.seen == ["Loop", "arc"]
    assert result.evaluated == ("alpha", "Loop")  # arc's 11/10 is invalid → excluded
    assert result.score == 25.0
    assert result.cost_cents == 0.02
    assert result.provider == "test:judge-1"
    assert any("unknown rules" in w and "loop" in w for w in result.warnings)
    assert any("arc" in w for w in result.warnings)


async def test_fake_evaluator_scores_every_semantic_rule() -> None:
    rules = RuleSet(DEFAULT_RULES)
    result = await rules.score("Wait for it... #fyp", FakeSemanticEvaluator())
    # Video rules need a measured video; a caption-only draft does not evaluate them.
    assert set(result.evaluated) == {r.name for r in DEFAULT_RULES if r.tier != "video"}
    assert result.warnings == ()
    assert result.score is not None
    assert 0 <= result.score <= 100


async def test_empty_rule_set_is_unavailable_not_fifty() -> None:
    result = await RuleSet([]).score("anything", None)
    assert result.score is None
    assert result.matches == ()


async def test_no_match_scores_zero() -> None:
    result = await RuleSet([rule("alpha")]).score("nothing", None)
    assert result.score == 0.0
    assert [r.name for r in result.missed] == ["alpha"]


def test_inactive_and_other_platform_rules_are_not_loaded() -> None:
    rules = RuleSet(
        [
            rule("a"),
            rule("b", active=False),
            rule("c", platform="instagram"),
            rule("d", platform="tiktok"),
        ]
    )
    assert [r.name for r, _ in rules.regex_rules] == ["a", "d"]


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        RuleSet([rule("a"), rule("a")])


@pytest.mark.parametrize(
    "data",
    [
        {"name": "x", "category": "hook", "tier": "regex"},
        {"name": "x", "category": "hook", "tier": "semantic"},
        {"name": "x", "category": "hook", "tier": "regex", "pattern": "a", "weight": 0},
    ],
)
def test_invalid_rules_are_refused(data: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="x"):
        rule_from_mapping(data)


def test_unknown_rule_keys_are_an_error() -> None:
    with pytest.raises(TypeError):
        rule_from_mapping(
            {"name": "x", "category": "c", "tier": "regex", "pattern": "a", "bogus": 1}
        )
