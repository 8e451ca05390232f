"""Creator signal: where the creator's audience sits among reference creators.

The data README finds creator history (median views of earlier videos) the strongest honest
pre-posting signal, ahead of follower count, so it carries most of the weight here. The
score is a percentile-like 0–100 position on a log scale, interpolated between reference
quantiles. The defaults were measured on the shared scraped sets (one value per creator per
source, all three sources pooled: 10,360 creators) and ``fit_reference_quantiles`` recomputes
them — ``tests/engine/test_creator.py`` checks the constants against the data. Those sets
over-represent large creators (the datares set's median is 3M followers), so a typical new
account scores low; the service may pass quantiles fitted on its own population instead.

Unknown is unknown: with neither history nor followers the signal is unavailable and a warning
says how to enable it; nothing is filled in with platform averages.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from virtuna.engine.types import CreatorContext

PERCENTILES: tuple[float, ...] = (5.0, 25.0, 50.0, 75.0, 95.0)
VIEWS_WEIGHT = 0.7  # history beats followers inside every source (data README)
MISSING_WARNING = (
    "creator context unknown: pass creator_handle (with ingested history) or "
    "creator_followers to enable the creator signal"
)


@dataclass(frozen=True, slots=True)
class ReferenceQuantiles:
    """log10 values at ``PERCENTILES`` for per-creator median views and for followers."""

    median_views_log10: tuple[float, ...]
    followers_log10: tuple[float, ...]
    source: str = "custom"


DEFAULT_QUANTILES = ReferenceQuantiles(
    median_views_log10=(3.817, 5.495, 6.041, 6.462, 7.0),
    followers_log10=(2.878, 3.798, 4.673, 5.697, 6.8),
    source="shared TikTok sets (vphuhan, thienphucle, datares), per creator and source",
)


@dataclass(frozen=True, slots=True)
class CreatorSignal:
    available: bool
    score: float | None
    views_percentile: float | None
    followers_percentile: float | None
    context_text: str
    warnings: tuple[str, ...] = ()


def fit_reference_quantiles(
    creators: Iterable[tuple[Sequence[float], int | None]], *, source: str = "custom"
) -> ReferenceQuantiles:
    """Quantiles from ``(views of each video, followers)`` per creator."""
    medians: list[float] = []
    followers: list[float] = []
    for views, fans in creators:
        if views:
            medians.append(math.log10(max(1.0, statistics.median(views))))
        if fans is not None:
            followers.append(math.log10(max(1, fans)))
    return ReferenceQuantiles(_quantiles(medians), _quantiles(followers), source)


def _quantiles(values: list[float]) -> tuple[float, ...]:
    if len(values) < 2:
        raise ValueError("need at least two creators to fit reference quantiles")
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return tuple(round(cuts[int(p) - 1], 3) for p in PERCENTILES)


def position(value: float, knots: Sequence[float]) -> float:
    """Piecewise-linear 0–100 position of a log10 value; one decade beyond the outer knots
    reaches 0 or 100, so extreme creators still order correctly."""
    xs = [knots[0] - 1.0, *knots, knots[-1] + 1.0]
    ys = [0.0, *PERCENTILES, 100.0]
    if value <= xs[0]:
        return 0.0
    if value >= xs[-1]:
        return 100.0
    for i in range(1, len(xs)):
        if value <= xs[i]:
            x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
            return y0 + (y1 - y0) * (value - x0) / (x1 - x0) if x1 > x0 else y1
    return 100.0


def creator_signal(
    context: CreatorContext | None, quantiles: ReferenceQuantiles = DEFAULT_QUANTILES
) -> CreatorSignal:
    views = _history_views(context)
    followers = context.followers if context else None
    if context is None or (views is None and followers is None):
        return CreatorSignal(
            False, None, None, None, "Creator context: unknown.", (MISSING_WARNING,)
        )
    views_pct = (
        position(math.log10(max(1.0, views)), quantiles.median_views_log10) if views else None
    )
    fans_pct = (
        position(math.log10(max(1, followers)), quantiles.followers_log10)
        if followers is not None
        else None
    )
    known = [
        (weight, pct)
        for weight, pct in ((VIEWS_WEIGHT, views_pct), (1 - VIEWS_WEIGHT, fans_pct))
        if pct is not None
    ]
    score = sum(w * p for w, p in known) / sum(w for w, _ in known)
    return CreatorSignal(
        available=True,
        score=round(score, 1),
        views_percentile=views_pct,
        followers_percentile=fans_pct,
        context_text=_context_text(context, views, views_pct, fans_pct),
    )


def _history_views(context: CreatorContext | None) -> float | None:
    """Median views, leaning on the recent median when both exist (audiences drift)."""
    if context is None or context.prior_video_count <= 0:
        return None
    if context.median_views is not None and context.recent_median_views is not None:
        return (context.median_views + context.recent_median_views) / 2
    return context.median_views if context.median_views is not None else context.recent_median_views


def _context_text(
    context: CreatorContext, views: float | None, views_pct: float | None, fans_pct: float | None
) -> str:
    who = f"@{context.handle}" if context.handle else "The creator"
    lines = [f"Creator context as of {context.as_of.date().isoformat()}:"]
    if context.followers is not None:
        lines.append(
            f"{who} has {context.followers:,} followers "
            f"(about p{fans_pct:.0f} of reference creators)."
        )
    if views is not None and views_pct is not None:
        lines.append(
            f"Median views of {context.prior_video_count} earlier videos: {views:,.0f} "
            f"(about p{views_pct:.0f})."
        )
    else:
        lines.append("No earlier videos of this creator are known.")
    if context.posts_per_week is not None:
        lines.append(f"Posts about {context.posts_per_week:.1f} videos per week.")
    if context.verified:
        lines.append("The account is verified.")
    return " ".join(lines)
