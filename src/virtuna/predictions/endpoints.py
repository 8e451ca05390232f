"""Scoring routes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.billing.gate import AnalysisGate, Gate
from virtuna.engine.draft import Draft
from virtuna.engine.pipeline import Engine
from virtuna.kit.db import read_phase, write_phase
from virtuna.kit.web import ERRORS_INPUT, ERRORS_OBJECT, Session, get_state
from virtuna.models import User
from virtuna.predictions import links, service, uploads
from virtuna.predictions.ranking import rank
from virtuna.predictions.schemas import AnalysisRead, BatchRequest, BatchResponse, HistoryPage
from virtuna.users.auth import CurrentUser

router = APIRouter(prefix="/api", tags=["analysis"])


async def get_engine(request: Request) -> Engine:
    """Async although it never awaits: FastAPI runs a plain ``def`` dependency in its thread
    pool, a thread hop per analysis for a dictionary lookup."""
    engine: Engine = get_state(request).extras["engine"]
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


@router.post(
    "/analyze",
    response_model=AnalysisRead,
    responses=uploads.ANALYZE_RESPONSES,
    openapi_extra=uploads.OPENAPI_BODY,
)
async def analyze(
    request: Request, user: CurrentUser, session: Session, engine: EngineDep, gate: AnalysisGate
) -> AnalysisRead:
    """Score one draft (JSON), or an uploaded video with the draft's other fields
    (multipart/form-data, file field ``video``); the stored result is returned with its id
    (413 upload too large, 415 not a video, 422 invalid or too long, 429 over quota)."""
    if uploads.is_multipart(request):
        async with uploads.uploaded_draft(request, get_state(request).settings) as draft:
            return await _score_one(draft, user, session, engine, gate)
    # tiktok_url mode: caption and author from oEmbed, before any transaction opens.
    draft, notes = await links.resolve_draft(
        await uploads.json_draft(request), links.link_client(request)
    )
    return await _score_one(draft, user, session, engine, gate, notes)


async def _score_one(
    draft: Draft,
    user: User,
    session: AsyncSession,
    engine: Engine,
    gate: Gate,
    notes: Sequence[str] = (),
) -> AnalysisRead:
    # Three phases, so no transaction (on SQLite: no write lock) is held across the LLM wait.
    async with read_phase(session):
        prepared = await service.prepare(session, draft, now=datetime.now(UTC), warnings=notes)
    scored = await service.score(engine, prepared)
    async with write_phase(session):
        await gate.charge(session, [scored.result])  # atomic; refused -> 429, nothing stored
        (stored,) = await service.store(session, user=user, scored=[scored])
    return stored


@router.post("/analyze/batch", response_model=BatchResponse, responses=ERRORS_INPUT)
async def analyze_batch(
    body: BatchRequest,
    user: CurrentUser,
    session: Session,
    engine: EngineDep,
    gate: AnalysisGate,
    link_client: links.LinkClient,
) -> BatchResponse:
    """Score up to 50 drafts and return them ranked, flagging neighbours within noise."""
    uploads.refuse_measured(body.drafts)
    resolved = await asyncio.gather(*(
        links.resolve_draft(d, link_client, f"drafts[{i}].tiktok_url")
        for i, d in enumerate(body.drafts)
    ))  # fmt: skip
    async with read_phase(session):
        prepared = await service.prepare_batch(
            session,
            [d for d, _ in resolved],
            now=datetime.now(UTC),
            warnings=[w for _, w in resolved],
        )
    scored = await service.score_batch(engine, prepared)
    async with write_phase(session):
        # the whole batch fits the quota, or none is stored
        await gate.charge(session, [s.result for s in scored])
        stored = await service.store(session, user=user, scored=scored)
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


# GET /api/analysis/{analysis_id} is served by virtuna.outcomes.endpoints: it shows the
# stored result (service.get_for) together with the analysis's outcomes, which live above.
