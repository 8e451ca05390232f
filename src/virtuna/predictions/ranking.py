"""Rank scored drafts and say which neighbours the model cannot really tell apart.

Two neighbours are "within noise" when, by the model's own tier distributions (taken as
independent), the higher-ranked draft lands in a strictly higher tier with probability
below ``NOISE_THRESHOLD`` (ties count half). Without tier probabilities (no ML signal) there
is no uncertainty estimate, so the flag is None rather than a guess.
"""

from __future__ import annotations

from collections.abc import Sequence

from virtuna.predictions.schemas import AnalysisRead, RankedAnalysis

NOISE_THRESHOLD = 0.6


def p_higher_tier(a: Sequence[float], b: Sequence[float]) -> float:
    """P(tier of a > tier of b) + ½ P(equal), for independent tier distributions."""
    above = sum(pa * pb for i, pa in enumerate(a) for j, pb in enumerate(b) if i > j)
    equal = sum(pa * pb for pa, pb in zip(a, b, strict=True))
    return above + 0.5 * equal


def rank(analyses: Sequence[AnalysisRead]) -> list[RankedAnalysis]:
    order = sorted(range(len(analyses)), key=lambda i: -(analyses[i].overall_score or 0.0))
    ranked = []
    for position, index in enumerate(order):
        flag: bool | None = None
        if position + 1 < len(order):
            here, nxt = analyses[index], analyses[order[position + 1]]
            if here.tier_probabilities and nxt.tier_probabilities:
                flag = (
                    p_higher_tier(here.tier_probabilities, nxt.tier_probabilities) < NOISE_THRESHOLD
                )
        ranked.append(
            RankedAnalysis(
                rank=position + 1, index=index, within_noise_of_next=flag, analysis=analyses[index]
            )
        )
    return ranked
