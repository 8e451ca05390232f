"""Trending sounds and hashtags (read-only, any authenticated user)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from virtuna.engine.types import TrendPhase
from virtuna.kit.web import ERRORS_OBJECT, Session
from virtuna.trends import service
from virtuna.trends.schemas import HashtagPage, SoundDetail, SoundPage, TrendStats
from virtuna.users.auth import CurrentUser

router = APIRouter(prefix="/api/trending", tags=["trends"])

Window = Annotated[
    int | None, Query(ge=1, le=365, description="Window in days [default: the 7-day one].")
]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=100_000)]
Search = Annotated[str | None, Query(max_length=200)]


@router.get("/sounds", response_model=SoundPage, responses=ERRORS_OBJECT)
async def sounds(
    user: CurrentUser,
    session: Session,
    window: Window = None,
    phase: TrendPhase | None = None,
    q: Search = None,
    original: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> SoundPage:
    """Trending sounds of the latest snapshot, best first; `original=false` lists
    commercial tracks only."""
    return await service.list_sounds(
        session,
        window=window,
        phase=phase,
        search=q,
        original=original,
        limit=limit,
        offset=offset,
    )


@router.get("/hashtags", response_model=HashtagPage, responses=ERRORS_OBJECT)
async def hashtags(
    user: CurrentUser,
    session: Session,
    window: Window = None,
    phase: TrendPhase | None = None,
    q: Search = None,
    niche: Search = None,
    include_generic: bool = True,
    limit: Limit = 50,
    offset: Offset = 0,
) -> HashtagPage:
    """Trending hashtags of the latest snapshot; `q` / `niche` match inside the tag."""
    return await service.list_hashtags(
        session,
        window=window,
        phase=phase,
        search=q or niche,
        include_generic=include_generic,
        limit=limit,
        offset=offset,
    )


@router.get("/stats", response_model=TrendStats, responses=ERRORS_OBJECT)
async def stats(user: CurrentUser, session: Session) -> TrendStats:
    """The latest snapshot and how its entries spread over phases."""
    return await service.stats(session)


@router.get("/sounds/{sound_id:path}", response_model=SoundDetail, responses=ERRORS_OBJECT)
async def sound(
    sound_id: str,
    user: CurrentUser,
    session: Session,
    window: Window = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> SoundDetail:
    """One sound (by `sound_key`) with its counts across snapshots, for a chart."""
    return await service.sound_detail(session, key=sound_id, window=window, limit=limit)
