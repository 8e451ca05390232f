"""Record what happened after posting, and show each creator how predictions compared.

Services take ``session`` first and only flush; the request or job owns the transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.errors import Conflict, NotFound, ValidationFailed
from virtuna.models import Analysis, Outcome, User
from virtuna.outcomes import repository
from virtuna.outcomes.ledger import (
    TierReference,
    at_horizon,
    joined_rows,
    latest_with_views,
    posted_time,
)
from virtuna.outcomes.schemas import (
    Accuracy,
    AnalysisDetail,
    AnalysisOutcomes,
    Comparison,
    FollowUpRead,
    OutcomeCreate,
    OutcomeRead,
    PendingItem,
    PendingPage,
)
from virtuna.predictions import service as predictions
from virtuna.training.metrics import spearman

CHECKPOINTS: dict[str, timedelta] = {"48h": timedelta(hours=48), "7d": timedelta(days=7)}
CLOCK_SKEW = timedelta(minutes=5)  # a client clock slightly ahead is not an error
METRIC_FIELDS = (
    "views", "likes", "comments", "shares", "saves", "avg_watch_seconds", "completion_rate",
)  # fmt: skip
PENDING_WINDOW = timedelta(days=30)  # older unreported drafts are not worth a prompt


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details=[{"field": field, "message": message}])


async def _owned(session: AsyncSession, user: User, analysis_id: uuid.UUID) -> Analysis:
    """The caller's own analysis; anyone else's (or none) is 404, never 403."""
    analysis = await repository.get_analysis(session, analysis_id)
    if analysis is None or analysis.user_id != user.id:
        raise NotFound("analysis not found")
    return analysis


def _times(
    body: OutcomeCreate, analysis: Analysis, now: datetime
) -> tuple[datetime, datetime | None]:
    """(observed_at, posted_at), validated against the clock and the analysis."""
    observed = body.observed_at or now
    if observed > now + CLOCK_SKEW:
        raise _invalid("observed_at", "observed_at is in the future")
    if observed < analysis.created_at:
        # Numbers seen before the prediction existed cannot test it.
        raise _invalid("observed_at", "observed_at is before the analysis was made")
    posted = body.posted_at
    if posted is None and body.hours_since_posting is not None:
        try:
            posted = observed - timedelta(hours=body.hours_since_posting)
        except OverflowError as exc:
            raise _invalid("hours_since_posting", "reaches before year 1") from exc
    if posted is not None and posted > observed:
        raise _invalid("posted_at", "posted_at is after observed_at")
    return observed, posted


async def record_outcome(
    session: AsyncSession,
    *,
    user: User,
    body: OutcomeCreate,
    tiers: TierReference | None,
    now: datetime | None = None,
) -> tuple[OutcomeRead, bool]:
    """Store a reported snapshot; (outcome, created). A replay returns the stored one."""
    now = now or datetime.now(UTC)
    analysis = await _owned(session, user, body.analysis_id)
    observed, posted = _times(body, analysis, now)
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "analysis_id": analysis.id,
        "user_id": user.id,
        "source": "user",
        "observed_at": observed,
        "posted_at": posted,
        "posted_url": body.posted_url,
        "created_at": now,
        **{name: getattr(body, name) for name in METRIC_FIELDS},
    }
    inserted = await repository.insert_outcome(session, values)
    stored = await repository.outcome_at(session, analysis.id, observed)
    assert stored is not None
    if inserted is None and not _same(stored, values):
        raise Conflict(
            "an outcome for this analysis at this observed_at already exists with other values",
            details={"outcome_id": str(stored.id)},
        )
    if inserted is not None and body.posted_url is not None:
        # A reported URL means the post existed by observed_at, whatever was planned.
        base = posted or min(analysis.scheduled_for or analysis.created_at, observed)
        await schedule_follow_ups(
            session, analysis_id=analysis.id, url=body.posted_url, posted=base
        )
    return outcome_read(stored, tiers), inserted is not None


def _same(stored: Outcome, values: dict[str, Any]) -> bool:
    keys = ("posted_at", "posted_url", *METRIC_FIELDS)
    return all(getattr(stored, k) == values[k] for k in keys)


async def schedule_follow_ups(
    session: AsyncSession, *, analysis_id: uuid.UUID, url: str, posted: datetime
) -> None:
    await repository.schedule_follow_ups(
        session,
        [
            {
                "id": uuid.uuid4(),
                "analysis_id": analysis_id,
                "checkpoint": name,
                "posted_url": url,
                "due_at": posted + offset,
                "status": "pending",
                "attempts": 0,
                "created_at": datetime.now(UTC),
            }
            for name, offset in CHECKPOINTS.items()
        ],
    )


def outcome_read(outcome: Outcome, tiers: TierReference | None) -> OutcomeRead:
    hours = None
    if outcome.posted_at is not None:
        hours = round((outcome.observed_at - outcome.posted_at).total_seconds() / 3600, 2)
    tier = tiers.tier_of(outcome.views) if tiers is not None and outcome.views is not None else None
    return OutcomeRead(
        id=outcome.id,
        analysis_id=outcome.analysis_id,
        source=outcome.source,
        observed_at=outcome.observed_at,
        posted_at=outcome.posted_at,
        posted_url=outcome.posted_url,
        hours_since_posting=hours,
        observed_tier=tier,
        created_at=outcome.created_at,
        **{name: getattr(outcome, name) for name in METRIC_FIELDS},
    )


def _comparison(
    analysis: Analysis, snapshot: Outcome, reached: bool, tiers: TierReference, horizon: int
) -> Comparison:
    views = int(snapshot.views or 0)
    observed = tiers.tier_of(views)
    probs = analysis.tier_probabilities
    predicted = int(np.argmax(probs)) + 1 if probs else None
    return Comparison(
        horizon_days=horizon,
        horizon_reached=reached,
        observed_at=snapshot.observed_at,
        views=views,
        observed_tier=observed,
        predicted_tier=predicted,
        tier_error=observed - predicted if predicted is not None else None,
        probability_of_observed_tier=float(probs[observed - 1]) if probs else None,
    )


@dataclass(frozen=True)
class _Track:
    posted_at: datetime | None
    outcomes: list[OutcomeRead]
    follow_ups: list[FollowUpRead]
    comparison: Comparison | None


async def _track(
    session: AsyncSession, analysis: Analysis, tiers: TierReference | None, horizon_days: int
) -> _Track:
    """The analysis's snapshots, scheduled scrapes, and how the prediction compared."""
    snapshots = await repository.outcomes_of(session, [analysis.id])
    posted = posted_time(analysis.scheduled_for, analysis.created_at, snapshots)
    at = at_horizon(posted, snapshots, timedelta(days=horizon_days))
    latest = at or latest_with_views(snapshots)
    comparison = None
    if latest is not None and tiers is not None:
        comparison = _comparison(analysis, latest, at is not None, tiers, horizon_days)
    follow_ups = await repository.follow_ups_of(session, analysis.id)
    return _Track(
        posted_at=posted if snapshots else analysis.scheduled_for,
        outcomes=[outcome_read(o, tiers) for o in snapshots],
        follow_ups=[
            FollowUpRead(checkpoint=f.checkpoint, due_at=f.due_at, status=f.status)
            for f in follow_ups
        ],  # fmt: skip
        comparison=comparison,
    )


async def analysis_outcomes(
    session: AsyncSession, *, user: User, analysis_id: uuid.UUID,
    tiers: TierReference | None, horizon_days: int,
) -> AnalysisOutcomes:  # fmt: skip
    """The owner's view of an analysis's outcomes (``/api/analysis/{id}/outcomes``)."""
    analysis = await _owned(session, user, analysis_id)
    track = await _track(session, analysis, tiers, horizon_days)
    return AnalysisOutcomes(
        analysis_id=analysis.id,
        overall_score=analysis.overall_score,
        tier_probabilities=analysis.tier_probabilities,
        is_calibrated=analysis.is_calibrated,
        calibrator_version=analysis.calibrator_version,
        posted_at=track.posted_at,
        outcomes=track.outcomes,
        follow_ups=track.follow_ups,
        comparison=track.comparison,
    )


async def analysis_detail(
    session: AsyncSession, *, user: User, analysis_id: uuid.UUID,
    tiers: TierReference | None, horizon_days: int,
) -> AnalysisDetail:  # fmt: skip
    """``GET /api/analysis/{id}``: the stored result (whoever predictions lets read it) with
    its outcomes, follow-up scrapes and how the prediction compared."""
    stored = await predictions.get_for(session, user=user, analysis_id=analysis_id)
    analysis = await repository.get_analysis(session, analysis_id)
    assert analysis is not None  # get_for just found it
    track = await _track(session, analysis, tiers, horizon_days)
    return AnalysisDetail.model_validate(
        {
            **stored.model_dump(),
            "outcomes": track.outcomes,
            "follow_ups": track.follow_ups,
            "comparison": track.comparison,
        }
    )


async def pending(
    session: AsyncSession, *, user: User, prompt_hours: int, limit: int,
    now: datetime | None = None,
) -> PendingPage:  # fmt: skip
    """Analyses whose planned post time is ``prompt_hours`` past with nothing reported."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(hours=prompt_hours)
    rows = await repository.pending(session, user_id=user.id, planned_before=cutoff,
                                    planned_after=now - PENDING_WINDOW, limit=limit)  # fmt: skip
    return PendingPage(
        prompt_after_hours=prompt_hours,
        items=[
            PendingItem(
                analysis_id=r.id,
                created_at=r.created_at,
                planned_post_at=_aware(r.planned),
                hours_since_planned=round((now - _aware(r.planned)).total_seconds() / 3600, 1),
                snippet=(r.content_text or r.tiktok_url or "")[:120],
            )
            for r in rows
        ],
    )


def _aware(value: datetime) -> datetime:
    # coalesce() loses the column type on SQLite, which then returns a naive UTC value.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def accuracy(
    session: AsyncSession, *, user: User, tiers: TierReference | None, horizon_days: int
) -> Accuracy:
    rows, awaiting = await joined_rows(
        session, horizon=timedelta(days=horizon_days), user_id=user.id
    )
    empty = Accuracy(horizon_days=horizon_days, count=len(rows), awaiting_horizon=awaiting,
                     spearman=None, mean_abs_tier_error=None, exact_tier_rate=None,
                     within_one_tier_rate=None)  # fmt: skip
    if not rows:
        return empty
    score = np.asarray([r.score for r in rows])
    views = np.asarray([float(r.views) for r in rows])
    rho = spearman(score, np.log1p(views))
    with_probs = [r for r in rows if r.served_probs]
    if tiers is None or not with_probs:
        return empty.model_copy(update={"spearman": None if np.isnan(rho) else rho})
    err = np.asarray(
        [tiers.tier_of(r.views) - (int(np.argmax(r.served_probs or [])) + 1) for r in with_probs]
    )
    return empty.model_copy(
        update={
            "spearman": None if np.isnan(rho) else round(rho, 4),
            "mean_abs_tier_error": round(float(np.abs(err).mean()), 4),
            "exact_tier_rate": round(float((err == 0).mean()), 4),
            "within_one_tier_rate": round(float((np.abs(err) <= 1).mean()), 4),
        }
    )
