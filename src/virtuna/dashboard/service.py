"""The admin dashboard's numbers: a handful of aggregate queries, each one indexed scan.

Histograms are computed in SQL with ``SUM(CASE …)`` per bin (portable between SQLite and
PostgreSQL, no per-row transfer); costs reuse the cost ledger's report; calibration is the
latest stored audit; drift compares this week's served ML scores with the reference the
model bundle carries (``metrics.valid_score_quantiles`` from training, else the training
population's percentiles, which are uniform on the score scale by construction).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.costs import service as costs
from virtuna.models import Analysis, JobRun
from virtuna.outcomes.calibration import latest_audit

BINS = 10
LABELS = ("HIGH", "MEDIUM", "LOW")


@dataclass(frozen=True)
class CostView:
    days: list[str]
    models: dict[str, list[float]]  # model -> cents per day, aligned with ``days``
    total_cents: float


@dataclass(frozen=True)
class DriftView:
    model_version: str | None
    reference_name: str
    reference: list[float]  # share per score decile in the reference
    this_week: list[int]  # served ML scores per decile, last 7 days
    overall_week: list[int]  # served overall scores per decile, last 7 days
    overall_before: list[int]  # the 3 weeks before
    psi_ml: float | None
    psi_overall: float | None


@dataclass(frozen=True)
class CalibrationView:
    stored_at: str | None
    rows: int
    ece: float | None
    bins: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Dashboard:
    generated_at: datetime
    days: int
    confidence_labels: dict[str, int]
    confidence_bins: list[int]
    costs: CostView
    runs_by_status: dict[str, dict[str, int]]  # job -> status -> count, last ``days``
    recent_runs: list[JobRun]
    calibration: CalibrationView
    drift: DriftView


def _bin_sums(column: Any, lo: float, hi: float, where: ColumnElement[bool]) -> list[Any]:
    """One ``SUM(CASE)`` per equal-width bin of ``column`` over [lo, hi]; the top is closed."""
    width = (hi - lo) / BINS
    sums = []
    for i in range(BINS):
        low, high = lo + i * width, lo + (i + 1) * width
        upper = column <= high if i == BINS - 1 else column < high
        sums.append(
            func.coalesce(func.sum(case((and_(where, column >= low, upper), 1), else_=0)), 0)
        )
    return sums


async def confidence(session: AsyncSession, since: datetime) -> tuple[dict[str, int], list[int]]:
    recent = Analysis.created_at >= since
    labels = [
        func.coalesce(func.sum(case((Analysis.confidence_label == name, 1), else_=0)), 0)
        for name in LABELS
    ]
    query = select(*labels, *_bin_sums(Analysis.confidence, 0.0, 1.0, recent)).where(recent)
    row = (await session.execute(query)).one()
    return dict(zip(LABELS, (int(v) for v in row[:3]), strict=True)), [int(v) for v in row[3:]]


async def cost_view(session: AsyncSession, days: int, now: datetime) -> CostView:
    report = await costs.cost_report(session, days=days, group_by=("day", "model"), now=now)
    day_list = sorted({r.day for r in report.rows if r.day})
    models: dict[str, list[float]] = {}
    for r in report.rows:
        if r.day is None:
            continue
        per_day = models.setdefault(r.model or "?", [0.0] * len(day_list))
        per_day[day_list.index(r.day)] += r.cost_cents
    return CostView(days=day_list, models=models, total_cents=report.total_cost_cents)


async def job_runs(
    session: AsyncSession, since: datetime, limit: int = 15
) -> tuple[dict[str, dict[str, int]], list[JobRun]]:
    grouped = await session.execute(
        select(JobRun.task_name, JobRun.status, func.count())
        .where(JobRun.created_at >= since)
        .group_by(JobRun.task_name, JobRun.status)
    )
    by_job: dict[str, dict[str, int]] = {}
    for name, status, count in grouped.tuples():
        by_job.setdefault(name, {})[status] = int(count)
    recent = await session.scalars(
        select(JobRun).order_by(JobRun.created_at.desc(), JobRun.id).limit(limit)
    )
    return by_job, list(recent)


async def calibration(session: AsyncSession) -> CalibrationView:
    report = await latest_audit(session)
    if report is None:
        return CalibrationView(stored_at=None, rows=0, ece=None)
    pooled = report.get("pooled") or {}
    metrics = pooled.get("metrics") or {}
    ece = (metrics.get("ece_top_15") or {}).get("value")
    bins = ((pooled.get("reliability") or {}).get("top_label_15")) or []
    return CalibrationView(
        stored_at=report.get("stored_at"),
        rows=int(pooled.get("n") or report.get("joined_rows") or 0),
        ece=float(ece) if isinstance(ece, int | float) else None,
        bins=list(bins),
    )


def reference_shares(meta_metrics: dict[str, Any] | None) -> tuple[str, list[float]]:
    """Share of the reference population per score decile."""
    quantiles = (meta_metrics or {}).get("valid_score_quantiles")
    if isinstance(quantiles, list) and len(quantiles) >= 3:
        return "validation slice", shares_from_quantiles([float(q) for q in quantiles])
    return "training (uniform)", [1.0 / BINS] * BINS


def shares_from_quantiles(quantiles: Sequence[float]) -> list[float]:
    """Decile shares of a distribution given by evenly spaced quantiles (linear between)."""
    levels = [i / (len(quantiles) - 1) for i in range(len(quantiles))]

    def cdf(x: float) -> float:
        if x <= quantiles[0]:
            return 0.0
        for i in range(1, len(quantiles)):
            if x <= quantiles[i]:
                span = quantiles[i] - quantiles[i - 1]
                frac = 1.0 if span <= 0 else (x - quantiles[i - 1]) / span
                return levels[i - 1] + frac * (levels[i] - levels[i - 1])
        return 1.0

    edges = [cdf(100.0 * i / BINS) for i in range(BINS + 1)]
    edges[-1] = 1.0
    return [max(edges[i + 1] - edges[i], 0.0) for i in range(BINS)]


def psi(actual: Sequence[float], expected: Sequence[float]) -> float | None:
    """Population stability index between two binned distributions (counts or shares)."""
    a_total, e_total = sum(actual), sum(expected)
    if a_total <= 0 or e_total <= 0:
        return None
    eps = 1e-4
    total = 0.0
    for a, e in zip(actual, expected, strict=True):
        pa, pe = max(a / a_total, eps), max(e / e_total, eps)
        total += (pa - pe) * math.log(pa / pe)
    return round(total, 4)


async def drift(
    session: AsyncSession, now: datetime, model_version: str | None, meta: dict[str, Any] | None
) -> DriftView:
    week, before = now - timedelta(days=7), now - timedelta(days=28)
    in_week = Analysis.created_at >= week
    earlier = Analysis.created_at < week
    served_ml = and_(in_week, Analysis.ml_score.is_not(None))
    if model_version is not None:
        served_ml = and_(served_ml, Analysis.model_version == model_version)
    query = select(
        *_bin_sums(Analysis.ml_score, 0.0, 100.0, served_ml),
        *_bin_sums(Analysis.overall_score, 0.0, 100.0, in_week),
        *_bin_sums(Analysis.overall_score, 0.0, 100.0, earlier),
    ).where(Analysis.created_at >= before)
    row = [int(v) for v in (await session.execute(query)).one()]
    ml, overall, prior = row[:BINS], row[BINS : 2 * BINS], row[2 * BINS :]
    name, reference = reference_shares(meta)
    return DriftView(
        model_version=model_version,
        reference_name=name,
        reference=reference,
        this_week=ml,
        overall_week=overall,
        overall_before=prior,
        psi_ml=psi(ml, reference),
        psi_overall=psi(overall, prior),
    )


async def build(
    session: AsyncSession,
    *,
    model_version: str | None,
    model_metrics: dict[str, Any] | None,
    days: int = 30,
    now: datetime | None = None,
) -> Dashboard:
    now = now or datetime.now(UTC)
    since = now - timedelta(days=days)
    labels, bins = await confidence(session, since)
    by_job, recent = await job_runs(session, since)
    return Dashboard(
        generated_at=now,
        days=days,
        confidence_labels=labels,
        confidence_bins=bins,
        costs=await cost_view(session, days, now),
        runs_by_status=by_job,
        recent_runs=recent,
        calibration=await calibration(session),
        drift=await drift(session, now, model_version, model_metrics),
    )
