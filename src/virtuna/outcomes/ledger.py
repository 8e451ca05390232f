"""The prediction ledger joined with outcomes at a fixed horizon.

Which snapshot counts: the *earliest* snapshot with views taken at least ``horizon`` after
posting. Posting time is the best known of: a snapshot's ``posted_at`` (the scraper's create
time or the creator's word), the draft's planned ``scheduled_for``, the analysis time.
Views keep growing, so comparing a 2-day count with a model of ≥ 7-day views would make
every prediction look over-confident; snapshots younger than the horizon are not joined.

The observed tier is the model bundle's tier cut-offs (log1p views at the training
population's p25/p50/p75/p90) applied to the joined views: the same tiers the model's
probabilities are about.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.engine.calibrate import observed_tiers
from virtuna.models import Outcome
from virtuna.outcomes import repository


@dataclass(frozen=True)
class TierReference:
    """The tier cut-offs of the model whose probabilities are judged."""

    model_version: str | None
    cutoffs: tuple[float, float, float, float]

    def tier_of(self, views: int) -> int:
        return int(observed_tiers([views], self.cutoffs)[0])


@dataclass(frozen=True)
class JoinedRow:
    analysis_id: uuid.UUID
    user_id: uuid.UUID
    created_at: datetime
    engine_version: str
    model_version: str | None
    input_mode: str
    score: float
    served_probs: list[float] | None
    raw_probs: list[float] | None  # before any calibrator: what calibrators are fitted on
    views: int
    observed_at: datetime


def posted_time(
    scheduled_for: datetime | None, created_at: datetime, outcomes: Sequence[Outcome]
) -> datetime:
    for outcome in outcomes:
        if outcome.posted_at is not None:
            return outcome.posted_at
    return scheduled_for or created_at


def at_horizon(posted: datetime, outcomes: Sequence[Outcome], horizon: timedelta) -> Outcome | None:
    """The earliest snapshot with views taken at least ``horizon`` after posting."""
    old_enough = [o for o in outcomes if o.views is not None and o.observed_at - posted >= horizon]
    return min(old_enough, key=lambda o: o.observed_at, default=None)


def latest_with_views(outcomes: Sequence[Outcome]) -> Outcome | None:
    return max(
        (o for o in outcomes if o.views is not None), key=lambda o: o.observed_at, default=None
    )


def _joined(row: Row[Any], outcome: Outcome) -> JoinedRow:
    raw = row.raw_tier_probabilities
    served = row.tier_probabilities
    return JoinedRow(
        analysis_id=row.id,
        user_id=row.user_id,
        created_at=row.created_at,
        engine_version=row.engine_version,
        model_version=row.model_version,
        input_mode=row.input_mode,
        score=float(row.overall_score),
        served_probs=list(served) if served is not None else None,
        # Rows stored before the ledger kept raw probabilities were never calibrated.
        raw_probs=list(raw) if raw is not None else (list(served) if served else None),
        views=int(outcome.views or 0),
        observed_at=outcome.observed_at,
    )


async def joined_rows(
    session: AsyncSession, *, horizon: timedelta, user_id: uuid.UUID | None = None
) -> tuple[list[JoinedRow], int]:
    """(rows joined at the horizon in serving order, analyses still awaiting it)."""
    rows = await repository.ledger_rows(session, user_id=user_id)
    by_analysis: dict[uuid.UUID, list[Outcome]] = defaultdict(list)
    for outcome in await repository.outcomes_of(session, [r.id for r in rows]):
        by_analysis[outcome.analysis_id].append(outcome)
    joined: list[JoinedRow] = []
    awaiting = 0
    for row in rows:
        snapshots = by_analysis[row.id]
        posted = posted_time(row.scheduled_for, row.created_at, snapshots)
        snapshot = at_horizon(posted, snapshots, horizon)
        if snapshot is None:
            awaiting += 1
        else:
            joined.append(_joined(row, snapshot))
    return joined, awaiting
