"""Measure each regex rule's lift on recent scraped outcomes; retire rules that hurt.

Population: scraped videos posted in the window (old enough for their views to settle),
each placed at its views percentile within that population (0-1, ties averaged). For a rule,
``lift`` is the mean percentile of the videos whose caption it fires on minus the mean of
the rest: +0.10 means firing videos sit 10 percentile points higher. That difference of
mean ranks is the Mann-Whitney statistic, so its standard error follows from the
percentiles' variance in each group (Welch). A rule is deactivated only when it has enough
support on both sides, its lift is below ``-min_drop`` and significant after a Bonferroni
correction over the rules tested. Semantic rules need an LLM per video and are not measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from statistics import NormalDist
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.engine.rules import RuleSet, rule_from_mapping
from virtuna.models import Rule, Video


@dataclass(frozen=True)
class ValidationConfig:
    window_days: int = 60
    settle_days: int = 2  # views of younger videos are still climbing
    max_videos: int = 50_000
    min_support: int = 30  # videos on each side (fired / not fired)
    min_drop: float = 0.03  # lift below -3 percentile points to count as harmful
    alpha: float = 0.05  # family-wise, Bonferroni over the rules tested


@dataclass(frozen=True)
class RuleLift:
    name: str
    support: int
    lift: float | None
    z: float | None
    action: str  # kept | deactivated | insufficient_support | already_inactive


def percentiles(views: Sequence[float]) -> list[float]:
    """Rank of each value in 0-1 (ties share their average rank)."""
    n = len(views)
    if n < 2:
        return [0.5] * n
    order = sorted(range(n), key=lambda i: views[i])
    ranks = [0.0] * n
    i = 0
    while i < n:
        j = i
        while j + 1 < n and views[order[j + 1]] == views[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 / (n - 1)
        i = j + 1
    return ranks


def _mean_var(values: Sequence[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    return mean, sum((v - mean) ** 2 for v in values) / max(len(values) - 1, 1)


def measure(fired: Sequence[bool], ranks: Sequence[float]) -> tuple[int, float, float]:
    """(support, lift, z) of one rule over the population."""
    yes = [r for r, f in zip(ranks, fired, strict=True) if f]
    no = [r for r, f in zip(ranks, fired, strict=True) if not f]
    if not yes or not no:
        return len(yes), 0.0, 0.0
    (m1, v1), (m0, v0) = _mean_var(yes), _mean_var(no)
    lift = m1 - m0
    se = math.sqrt(v1 / len(yes) + v0 / len(no))
    return len(yes), lift, (lift / se if se > 0 else 0.0)


async def _population(
    session: AsyncSession, now: datetime, config: ValidationConfig
) -> tuple[list[str], list[float]]:
    rows = await session.execute(
        select(Video.caption, Video.latest_views)
        .where(
            Video.posted_at >= now - timedelta(days=config.window_days),
            Video.posted_at <= now - timedelta(days=config.settle_days),
            Video.latest_views.is_not(None),
        )
        .order_by(Video.posted_at.desc())
        .limit(config.max_videos)
    )
    captions, views = [], []
    for caption, seen in rows.tuples():
        captions.append(caption or "")
        views.append(float(seen or 0))
    return captions, views


def _verdict(
    row: Rule, fired: list[bool], ranks: list[float], z_crit: float, config: ValidationConfig
) -> RuleLift:
    support, lift, z = measure(fired, ranks)
    if min(support, len(fired) - support) < config.min_support:
        return RuleLift(row.name, support, None, None, "insufficient_support")
    harmful = lift < -config.min_drop and z < -z_crit
    action = "deactivated" if harmful and row.active else "kept"
    if not row.active:
        action = "already_inactive"
    return RuleLift(row.name, support, round(lift, 4), round(z, 2), action)


def _fired(rows: Sequence[Rule], captions: Sequence[str]) -> dict[str, list[bool]]:
    """Which captions each rule fires on, through the engine's own rule set (every rule
    measured, inactive ones included, whatever its platform)."""
    specs = [rule_from_mapping({**row.spec, "active": True, "platform": None}) for row in rows]
    rules = RuleSet(specs)
    fired: dict[str, list[bool]] = {row.name: [] for row in rows}
    for caption in captions:
        for rule, hit in rules.regex_matches(caption):
            fired[rule.name].append(hit)
    return fired


async def validate_rules(
    session: AsyncSession,
    *,
    now: datetime,
    config: ValidationConfig | None = None,
    apply: bool = True,
) -> dict[str, Any]:
    """Measure every regex rule, store its lift, deactivate the harmful ones (if ``apply``)."""
    config = config or ValidationConfig()
    captions, views = await _population(session, now, config)
    ranks = percentiles(views)
    rows = list(await session.scalars(select(Rule).where(Rule.tier == "regex").order_by(Rule.name)))
    z_crit = NormalDist().inv_cdf(1 - config.alpha / max(len(rows), 1))
    fired = _fired(rows, captions)
    results = []
    for row in rows:
        verdict = _verdict(row, fired[row.name], ranks, z_crit, config)
        results.append(verdict)
        if apply and verdict.lift is not None:
            row.lift = verdict.lift
        if apply and verdict.action == "deactivated":
            row.active = False
    await session.flush()
    return {
        "videos": len(captions),
        "window_days": config.window_days,
        "z_critical": round(z_crit, 3),
        "applied": apply,
        "deactivated": [r.name for r in results if r.action == "deactivated"],
        "rules": [asdict(r) for r in results],
        "semantic_rules_not_measured": await _semantic_count(session),
    }


async def _semantic_count(session: AsyncSession) -> int:
    return len(list(await session.scalars(select(Rule.id).where(Rule.tier == "semantic"))))
