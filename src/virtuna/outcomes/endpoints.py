"""Outcome, track-record and calibration-report routes.

``GET /api/analysis/{id}`` lives here rather than in predictions: it shows the stored
engine result *and* the analysis's outcomes and comparison, and predictions sits below
outcomes (it may not import them). ``/api/analysis/{id}/outcomes`` is the outcomes part alone.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from virtuna.engine.bundle import ModelBundle
from virtuna.errors import ServiceUnavailable
from virtuna.kit.web import ERRORS_ADMIN, ERRORS_INPUT, ERRORS_OBJECT, Session, get_state
from virtuna.outcomes import calibration, service
from virtuna.outcomes.ledger import TierReference
from virtuna.outcomes.schemas import (
    Accuracy,
    AnalysisDetail,
    AnalysisOutcomes,
    OutcomeCreate,
    OutcomeRead,
    PendingPage,
)
from virtuna.users.auth import AdminUser, CurrentUser

router = APIRouter(prefix="/api", tags=["outcomes"])


def get_tiers(request: Request) -> TierReference | None:
    """The served bundle's tier cut-offs (None when the engine runs without a model)."""
    engine = get_state(request).extras.get("engine")
    bundle = getattr(engine, "predictor", None)
    if not isinstance(bundle, ModelBundle):
        return None
    return TierReference(model_version=bundle.version, cutoffs=bundle.meta.tier_cutoffs)


Tiers = Annotated[TierReference | None, Depends(get_tiers)]


@router.post(
    "/outcomes",
    response_model=OutcomeRead,
    status_code=status.HTTP_201_CREATED,
    responses={**ERRORS_INPUT, **ERRORS_OBJECT, 200: {"description": "Replay of a stored one"}},
)
async def report_outcome(
    body: OutcomeCreate, user: CurrentUser, session: Session, tiers: Tiers, response: Response
) -> OutcomeRead:
    """Report how a post did (and/or its URL, to be scraped at 48 h and 7 days)."""
    outcome, created = await service.record_outcome(session, user=user, body=body, tiers=tiers)
    if not created:
        response.status_code = status.HTTP_200_OK
    return outcome


@router.get("/outcomes/pending", response_model=PendingPage, responses=ERRORS_OBJECT)
async def pending_outcomes(
    request: Request,
    user: CurrentUser,
    session: Session,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> PendingPage:
    """Analyses 48 h past their planned post time with no result reported yet."""
    hours = get_state(request).settings.outcome_prompt_hours
    return await service.pending(session, user=user, prompt_hours=hours, limit=limit)


@router.get("/profile/accuracy", response_model=Accuracy, responses=ERRORS_OBJECT)
async def profile_accuracy(
    request: Request, user: CurrentUser, session: Session, tiers: Tiers
) -> Accuracy:
    """How the caller's predictions compared with their outcomes."""
    horizon = get_state(request).settings.calibration_horizon_days
    return await service.accuracy(session, user=user, tiers=tiers, horizon_days=horizon)


@router.get("/analysis/{analysis_id}", response_model=AnalysisDetail, responses=ERRORS_OBJECT)
async def get_analysis(
    analysis_id: uuid.UUID, request: Request, user: CurrentUser, session: Session, tiers: Tiers
) -> AnalysisDetail:
    """One analysis with its outcomes and how the prediction compared; another user's id
    answers 404."""
    horizon = get_state(request).settings.calibration_horizon_days
    return await service.analysis_detail(
        session, user=user, analysis_id=analysis_id, tiers=tiers, horizon_days=horizon
    )


@router.get(
    "/analysis/{analysis_id}/outcomes", response_model=AnalysisOutcomes, responses=ERRORS_OBJECT
)
async def analysis_outcomes(
    analysis_id: uuid.UUID, request: Request, user: CurrentUser, session: Session, tiers: Tiers
) -> AnalysisOutcomes:
    """The analysis's outcomes and how the prediction compared; others' ids answer 404."""
    horizon = get_state(request).settings.calibration_horizon_days
    return await service.analysis_outcomes(
        session, user=user, analysis_id=analysis_id, tiers=tiers, horizon_days=horizon
    )


@router.get("/admin/calibration-report", responses=ERRORS_ADMIN)
async def calibration_report(
    request: Request, _: AdminUser, session: Session, tiers: Tiers
) -> dict[str, Any]:
    """Live calibration of production predictions, plus the last stored audit."""
    if tiers is None:
        raise ServiceUnavailable("no model bundle loaded: there are no tier probabilities")
    horizon = get_state(request).settings.calibration_horizon_days
    report = await calibration.production_report(session, tiers=tiers, horizon_days=horizon)
    report["last_audit"] = await calibration.latest_audit(session)
    return report
