"""Scoring routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from virtuna.billing.gate import AnalysisGate
from virtuna.engine.draft import Draft
from virtuna.engine.pipeline import Engine
from virtuna.kit.web import ERRORS_INPUT, ERRORS_OBJECT, Session, get_state
from virtuna.predictions import service
from virtuna.predictions.ranking import rank
from virtuna.predictions.schemas import AnalysisRead, BatchRequest, BatchResponse, HistoryPage
from virtuna.users.auth import CurrentUser

router = APIRouter(prefix="/api", tags=["analysis"])


def get_engine(request: Request) -> Engine:
    engine: Engine = get_state(request).extras["engine"]
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


@router.post("/analyze", response_model=AnalysisRead, responses=ERRORS_INPUT)
async def analyze(
    draft: Draft, user: CurrentUser, session: Session, engine: EngineDep, gate: AnalysisGate
) -> AnalysisRead:
    """Score one draft; the stored result is returned with its id (429 over quota)."""
    result = await service.analyze(session, engine, user=user, draft=draft)
    await gate.charge(session, [result])  # atomic; refused -> 429 and nothing stored
    return result


@router.post("/analyze/batch", response_model=BatchResponse, responses=ERRORS_INPUT)
async def analyze_batch(
    body: BatchRequest, user: CurrentUser, session: Session, engine: EngineDep, gate: AnalysisGate
) -> BatchResponse:
    """Score up to 50 drafts and return them ranked, flagging neighbours within noise."""
    stored = await service.analyze_batch(session, engine, user=user, drafts=body.drafts)
    await gate.charge(session, stored)  # the whole batch fits the quota, or none is stored
    return BatchResponse(results=rank(stored))


@router.get("/analysis/history", response_model=HistoryPage, responses=ERRORS_OBJECT)
async def history(
    user: CurrentUser,
    session: Session,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    input_mode: Literal["text", "tiktok_url", "video_upload"] | None = None,
) -> HistoryPage:
    """The caller's analyses, newest first, with cursor pagination."""
    return await service.history(
        session,
        user=user,
        limit=limit,
        cursor=cursor,
        since=since,
        until=until,
        input_mode=input_mode,
    )


@router.get("/analysis/{analysis_id}", response_model=AnalysisRead, responses=ERRORS_OBJECT)
async def get_analysis(analysis_id: uuid.UUID, user: CurrentUser, session: Session) -> AnalysisRead:
    """One analysis; another user's id answers 404."""
    return await service.get_for(session, user=user, analysis_id=analysis_id)
