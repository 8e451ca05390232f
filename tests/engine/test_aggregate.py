from __future__ import annotations

from itertools import combinations

import pytest

from virtuna.engine.aggregate import (
    LLM_FAILED_CAP,
    NO_LLM_CAP,
    SIGNALS,
    TIER_LABELS,
    Weights,
    blend,
    confidence,
    confidence_label,
    select_weights,
    tier_for,
)

BASE5 = ("behavioral", "llm_content", "ml", "rules", "trends")


def weights_for(available: set[str]) -> tuple[float, ...]:
    chosen = select_weights(Weights(), available)
    return tuple(chosen[name] for name in BASE5)


def test_base_weights_when_the_five_base_signals_are_present() -> None:
    assert weights_for(set(BASE5)) == (0.35, 0.25, 0.15, 0.15, 0.10)


@pytest.mark.parametrize(
    ("missing", "expected"),
    [
        ({"ml"}, (0.412, 0.294, 0.0, 0.176, 0.118)),
        ({"trends"}, (0.389, 0.278, 0.167, 0.167, 0.0)),
        ({"ml", "trends"}, (0.467, 0.333, 0.0, 0.2, 0.0)),
        ({"behavioral", "ml", "rules", "trends"}, (0.0, 1.0, 0.0, 0.0, 0.0)),
    ],
)
def test_engine_spec_redistribution_examples(
    missing: set[str], expected: tuple[float, ...]
) -> None:
    assert weights_for(set(BASE5) - missing) == expected


@pytest.mark.parametrize(
    "available",
    [set(c) for n in range(1, len(SIGNALS) + 1) for c in combinations(SIGNALS, n)],
)
def test_every_subset_sums_to_one(available: set[str]) -> None:
    chosen = select_weights(Weights(), available)
    assert sum(chosen.values()) == pytest.approx(1.0, abs=0.003)
    assert all(chosen[name] == 0 for name in SIGNALS if name not in available)


def test_nothing_available_gives_zero_weights_and_no_score() -> None:
    assert set(select_weights(Weights(), set()).values()) == {0.0}
    assert blend(Weights(), dict.fromkeys(SIGNALS)) is None


def test_blend_echoes_a_single_signal_and_clamps() -> None:
    assert blend(Weights(), {"ml": 50.0}) == 50.0
    assert blend(Weights(), {"ml": 200.0}) == 100.0
    assert blend(Weights(), {"ml": 0.0, "rules": 0.0}) == 0.0


def test_engine_spec_blend_example() -> None:
    scores = {"behavioral": 70.0, "llm_content": 70.0, "ml": 50.0, "rules": 55.0, "trends": 30.0}
    assert blend(Weights(), scores) == pytest.approx(60.8, abs=0.05)  # 60.75


def test_custom_weights_change_the_blend() -> None:
    only_rules = Weights(behavioral=0, llm_content=0, ml=0, rules=1, trends=0, creator=0)
    assert blend(only_rules, {"rules": 40.0, "ml": 90.0}) == 40.0
    with pytest.raises(ValueError, match="non-negative"):
        Weights(ml=-1)


@pytest.mark.parametrize(
    ("score", "tier"),
    [
        (0, 1),
        (24.9, 1),
        (25, 2),
        (49.9, 2),
        (50, 3),
        (74.9, 3),
        (75, 4),
        (89.9, 4),
        (90, 5),
        (100, 5),
    ],
)
def test_tier_cutoffs(score: float, tier: int) -> None:
    assert tier_for(score) == tier
    assert TIER_LABELS[tier - 1]


def test_labels() -> None:
    assert TIER_LABELS == (
        "Unlikely to perform",
        "Below average",
        "Average",
        "Strong potential",
        "Viral potential",
    )
    assert [confidence_label(v) for v in (0.7, 0.69, 0.4, 0.39)] == [
        "HIGH",
        "MEDIUM",
        "MEDIUM",
        "LOW",
    ]


def test_all_independent_signals_agreeing_is_high() -> None:
    scores = dict.fromkeys(SIGNALS, 70.0)
    assert confidence(scores, llm_failed=False) >= 0.95


def test_disagreement_lowers_confidence() -> None:
    agree = dict.fromkeys(SIGNALS, 60.0)
    disagree = {**agree, "ml": 10.0, "rules": 95.0, "trends": 5.0}
    assert confidence(disagree, llm_failed=False) < confidence(agree, llm_failed=False) - 0.2


def test_two_llms_agreeing_are_one_family_not_corroboration() -> None:
    both = confidence({"behavioral": 70.0, "llm_content": 70.0}, llm_failed=False)
    one = confidence({"behavioral": 70.0}, llm_failed=False)
    assert both == one
    assert confidence_label(both) == "LOW"


def test_without_llm_confidence_is_at_most_medium() -> None:
    scores = {"ml": 60.0, "rules": 60.0, "trends": 60.0, "creator": 60.0}
    value = confidence(scores, llm_failed=False)
    assert value == NO_LLM_CAP
    assert confidence_label(value) == "MEDIUM"


def test_llm_failure_forces_low() -> None:
    scores = {"ml": 60.0, "rules": 60.0, "trends": 60.0, "creator": 60.0}
    value = confidence(scores, llm_failed=True)
    assert value == LLM_FAILED_CAP
    assert confidence_label(value) == "LOW"


def test_no_signal_has_zero_confidence() -> None:
    assert confidence({}, llm_failed=False) == 0.0
