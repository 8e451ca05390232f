"""Blend the available signals into one score, a tier and an honest confidence.

Weights: the earlier system's base weights for its five signals (behavioral .35, llm_content
.25, ml .15, rules .15, trends .10 — replaced by measured ones where a model bundle ships
fitted weights, see ``virtuna.engine.blend``) plus a
sixth signal, ``creator`` (.10), because creator history is the strongest honest pre-posting
signal in the shared data. Weights are relative: only *available* signals share the total,
each in proportion to its base weight, so the ENGINE_SPEC §6 redistribution examples hold
exactly whenever the creator signal is absent. Pass a different ``Weights`` to change them.

Tier: fixed score cut-offs 0–25–50–75–90–100, so the tier always agrees with the score shown
next to it. They are the model's own tier definition (views percentiles p25/p50/p75/p90 of
the training population, where the ML score *is* the predicted percentile × 100), so a
score read as "better than N% of videos" and its tier mean the same thing. When the ML
signal is present its tier probabilities are reported alongside, unchanged.

Confidence (0–1) rewards *independent* evidence, and agreement between independent sources:

    coverage   = Σ family weight of the families present    (llm .35, ml .25, creator .20,
                                                              rules .10, trends .10)
    agreement  = max(0, 1 − stdev(family scores) / 25)      (0 with fewer than two families)
    confidence = 0.15 + 0.55·coverage + 0.30·agreement

The two language models form ONE family (the reasoner reads the analyzer's output, so their
agreement is not corroboration); its score is their mean. Without any LLM the confidence is
capped at 0.69 (MEDIUM at best); when LLMs were configured and both failed it is capped at
0.39 (LOW). Labels: HIGH ≥ 0.7, MEDIUM ≥ 0.4, else LOW.
"""

from __future__ import annotations

import statistics
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal

SIGNALS: tuple[str, ...] = ("behavioral", "llm_content", "ml", "rules", "trends", "creator")
TIER_CUTS: tuple[float, ...] = (25.0, 50.0, 75.0, 90.0)
TIER_LABELS: tuple[str, ...] = (
    "Unlikely to perform",
    "Below average",
    "Average",
    "Strong potential",
    "Viral potential",
)
FAMILY_WEIGHTS: dict[str, float] = {
    "llm": 0.35,
    "ml": 0.25,
    "creator": 0.20,
    "rules": 0.10,
    "trends": 0.10,
}
NO_LLM_CAP = 0.69
LLM_FAILED_CAP = 0.39
AGREEMENT_SPREAD = 25.0


@dataclass(frozen=True, slots=True)
class Weights:
    behavioral: float = 0.35
    llm_content: float = 0.25
    ml: float = 0.15
    rules: float = 0.15
    trends: float = 0.10
    creator: float = 0.10
    # Fitted weights (virtuna.engine.blend) say why a signal weighs what it does, e.g.
    # "weight 0: no measured lift"; the signal's report shows it.
    notes: tuple[tuple[str, str], ...] = ()
    # Weights fitted with the ML signal say nothing about a draft whose ML stage failed.
    without_ml: Weights | None = None

    def __post_init__(self) -> None:
        if any(value < 0 for value in self.as_dict().values()):
            raise ValueError("weights must be non-negative")

    def as_dict(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in SIGNALS}

    def note(self, name: str) -> str | None:
        return dict(self.notes).get(name)

    def for_available(self, available: Collection[str]) -> Weights:
        """The weights that apply when only ``available`` signals are present."""
        if "ml" not in available and self.without_ml is not None:
            return self.without_ml
        return self


def select_weights(weights: Weights, available: set[str]) -> dict[str, float]:
    """Each available signal's share of the total; missing signals get 0 (3 dp)."""
    base = weights.for_available(available).as_dict()
    total = sum(base[name] for name in available if name in base)
    if total <= 0:
        return dict.fromkeys(SIGNALS, 0.0)
    return {name: round(base[name] / total, 3) if name in available else 0.0 for name in SIGNALS}


def blend(weights: Weights, scores: Mapping[str, float | None]) -> float | None:
    """Weighted mean of the available scores (unrounded weights), 1 dp; None if none."""
    base = weights.for_available({n for n, s in scores.items() if s is not None}).as_dict()
    present = {name: s for name, s in scores.items() if s is not None and base.get(name, 0) > 0}
    total = sum(base[name] for name in present)
    if total <= 0:
        return None
    value = sum(base[name] * score for name, score in present.items()) / total
    return round(min(100.0, max(0.0, value)), 1)


def tier_for(score: float) -> int:
    return 1 + sum(score >= cut for cut in TIER_CUTS)


def confidence_label(value: float) -> Literal["HIGH", "MEDIUM", "LOW"]:
    if value >= 0.7:
        return "HIGH"
    if value >= 0.4:
        return "MEDIUM"
    return "LOW"


def family_scores(scores: Mapping[str, float | None]) -> dict[str, float]:
    """One score per independent family: the two LLM signals collapse into "llm"."""
    llm = [s for name in ("behavioral", "llm_content") if (s := scores.get(name)) is not None]
    families = {"llm": sum(llm) / len(llm)} if llm else {}
    for name in ("ml", "creator", "rules", "trends"):
        value = scores.get(name)
        if value is not None:
            families[name] = value
    return families


def confidence(scores: Mapping[str, float | None], *, llm_failed: bool) -> float:
    families = family_scores(scores)
    coverage = sum(FAMILY_WEIGHTS[name] for name in families)
    agreement = 0.0
    if len(families) >= 2:
        spread = statistics.pstdev(families.values())
        agreement = max(0.0, 1 - spread / AGREEMENT_SPREAD)
    value = 0.15 + 0.55 * coverage + 0.30 * agreement if families else 0.0
    if "llm" not in families:
        value = min(value, NO_LLM_CAP)
    if llm_failed:
        value = min(value, LLM_FAILED_CAP)
    return round(min(1.0, max(0.0, value)), 2)
