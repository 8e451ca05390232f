"""Score drafts and keep every served prediction.

The engine is pure; this layer gathers its point-in-time inputs from the database (creator
history, trend snapshot), runs it, and persists the full result. A failed insert fails the
request: no prediction is served that was not recorded.

Three steps, so a caller can keep the LLM wait outside any transaction (the API does:
read phase, engine with no transaction open, one short write phase)::

    prepare (reads) ──▶ score (engine, no database) ──▶ store (inserts, flush)

``analyze`` / ``analyze_batch`` chain them in the caller's one transaction (the CLI).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.costs import service as costs
from virtuna.engine.draft import Draft, parse_draft
from virtuna.engine.errors import DraftValidationError
from virtuna.engine.llm.ledger import CallRecord
from virtuna.engine.normalize import normalize_draft
from virtuna.engine.pipeline import Engine
from virtuna.engine.result import AnalysisResult
from virtuna.engine.types import CreatorContext, TrendSnapshot
from virtuna.errors import NotFound, ValidationFailed
from virtuna.models import Analysis, User
from virtuna.predictions import calibration, repository
from virtuna.predictions.schemas import AnalysisRead, AnalysisSummary, HistoryPage
from virtuna.trends import service as trends_service
from virtuna.videos.context import creator_context_at, trend_snapshot_at
from virtuna.videos.creators import request_creator_refresh


def validate_draft(data: Draft | Mapping[str, Any]) -> Draft:
    if isinstance(data, Draft):
        return data
    try:
        return parse_draft(data)
    except DraftValidationError as exc:
        raise ValidationFailed(str(exc), details=exc.errors) from exc


async def engine_inputs(
    session: AsyncSession, draft: Draft, *, now: datetime
) -> tuple[CreatorContext | None, TrendSnapshot]:
    """The database's view of the creator and of the trends at the draft's post time."""
    as_of = draft.scheduled_for or now
    normalized = normalize_draft(draft)  # the engine's own reading of handle and hashtags
    creator = await creator_context_at(session, handle=normalized.creator_handle, as_of=as_of)
    # Unknown or stale creator: queue a profile scrape (never raises, never waits).
    await request_creator_refresh(session, normalized.creator_handle, now)
    own = await trend_snapshot_at(
        session,
        as_of=as_of,
        hashtags=normalized.hashtags,
        sound_title=normalized.sound_title,
        sound_author=normalized.sound_author,
    )
    # The draft's own entries stay as computed (the ML features read them); the latest
    # computed trends add velocity, phase and the top sounds/hashtags for matching.
    trends = await trends_service.with_latest_trends(
        session,
        own,
        hashtags=normalized.hashtags,
        sound_title=normalized.sound_title,
        sound_author=normalized.sound_author,
    )
    return creator, trends


async def score_draft(
    session: AsyncSession, engine: Engine, draft: Draft, *, now: datetime
) -> AnalysisResult:
    creator, trends = await engine_inputs(session, draft, now=now)
    return await engine.analyze(draft, creator=creator, trends=trends, now=now)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A draft with the database's point-in-time view of it: all the engine needs."""

    draft: Draft
    creator: CreatorContext | None
    trends: TrendSnapshot
    now: datetime
    warnings: tuple[str, ...] = ()  # the service's own (e.g. an unresolved TikTok link)


@dataclass(frozen=True, slots=True)
class Scored:
    prepared: Prepared
    result: AnalysisResult
    calls: list[CallRecord]


async def prepare(
    session: AsyncSession, draft: Draft, *, now: datetime, warnings: Sequence[str] = ()
) -> Prepared:
    """The read step: creator and trend context at the draft's time (no writes)."""
    creator, trends = await engine_inputs(session, draft, now=now)
    return Prepared(draft, creator, trends, now, tuple(warnings))


async def score(engine: Engine, prepared: Prepared) -> Scored:
    """The engine step: touches no database, so no transaction need be open across it."""
    p = prepared
    result, calls = await costs.ledgered(
        engine.analyze(p.draft, creator=p.creator, trends=p.trends, now=p.now)
    )
    if p.warnings:
        result = result.model_copy(update={"warnings": [*result.warnings, *p.warnings]})
    return Scored(prepared, result, calls)


async def store(
    session: AsyncSession, *, user: User, scored: Sequence[Scored]
) -> list[AnalysisRead]:
    """The write step: each analysis (calibrated as served) and its ledger rows, flushed."""
    rows = [
        _row(user, s.prepared.draft, await calibration.serve(session, s.result)) for s in scored
    ]
    session.add_all(rows)
    await session.flush()
    for row, item in zip(rows, scored, strict=True):
        await costs.record_calls(session, analysis_id=row.id, calls=item.calls)
    return [read(r) for r in rows]


def _row(user: User, draft: Draft, served: calibration.Served) -> Analysis:
    result = served.result
    score = result.overall_score if result.overall_score is not None else 0.0
    ml = result.signals.get("ml")
    return Analysis(
        user_id=user.id,
        input_mode=str(draft.input_mode),
        content_type=str(draft.content_type),
        content_text=draft.content_text or "",
        tiktok_url=draft.tiktok_url,
        niche=draft.niche,
        creator_handle=draft.creator_handle,
        scheduled_for=draft.scheduled_for,
        overall_score=score,
        raw_score=score,
        tier=result.tier or 1,
        tier_probabilities=result.tier_probabilities,
        ml_score=ml.score if ml is not None and ml.available else None,
        confidence=result.confidence,
        confidence_label=result.confidence_label,
        is_calibrated=result.is_calibrated,
        raw_tier_probabilities=served.raw_tier_probabilities,
        calibrator_version=served.calibrator_version,
        engine_version=result.engine_version,
        model_version=result.model_version,
        latency_ms=round(result.latency_ms),
        cost_cents=result.cost_cents,
        result=result.to_dict(),
        feature_vector=result.feature_vector,
    )


async def analyze(
    session: AsyncSession,
    engine: Engine,
    *,
    user: User,
    draft: Draft | Mapping[str, Any],
    now: datetime | None = None,
    warnings: Sequence[str] = (),
) -> AnalysisRead:
    """Prepare, score and store one draft in the caller's transaction."""
    prepared = await prepare(
        session, validate_draft(draft), now=now or datetime.now(UTC), warnings=warnings
    )
    (stored,) = await store(session, user=user, scored=[await score(engine, prepared)])
    return stored


def read(row: Analysis) -> AnalysisRead:
    return AnalysisRead.model_validate(
        {
            **row.result,
            "id": row.id,
            "created_at": row.created_at,
            "calibrator_version": row.calibrator_version,
        }
    )


async def get_for(session: AsyncSession, *, user: User, analysis_id: uuid.UUID) -> AnalysisRead:
    """The analysis if the caller owns it (or is admin); 404 otherwise, never 403."""
    row = await repository.get(session, analysis_id)
    if row is None or (row.user_id != user.id and not user.is_admin):
        raise NotFound("analysis not found")
    return read(row)


def encode_cursor(row: Analysis) -> str:
    raw = f"{row.created_at.isoformat()}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, ident = raw.partition("|")
        return datetime.fromisoformat(at), uuid.UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            "invalid cursor",
            details=[{"field": "cursor", "message": "not a cursor from a previous page"}],
        ) from exc


async def history(
    session: AsyncSession,
    *,
    user: User,
    limit: int,
    cursor: str | None,
    since: datetime | None,
    until: datetime | None,
    input_mode: str | None,
) -> HistoryPage:
    rows = await repository.history(
        session,
        user_id=user.id,
        limit=limit + 1,
        before=decode_cursor(cursor) if cursor else None,
        since=since,
        until=until,
        input_mode=input_mode,
    )
    page = list(rows[:limit])
    return HistoryPage(
        items=[_summary(r) for r in page],
        next_cursor=encode_cursor(page[-1]) if len(rows) > limit else None,
    )


def _summary(row: Analysis) -> AnalysisSummary:
    return AnalysisSummary(
        id=row.id,
        created_at=row.created_at,
        input_mode=row.input_mode,
        content_type=row.content_type,
        overall_score=row.overall_score,
        tier=row.tier,
        confidence_label=row.confidence_label,
        snippet=(row.content_text or row.tiktok_url or "")[:120],
    )


async def prepare_batch(
    session: AsyncSession,
    drafts: Sequence[Draft],
    *,
    now: datetime,
    warnings: Sequence[Sequence[str]] | None = None,
) -> list[Prepared]:
    # Database reads share one session, so they run in turn.
    notes = warnings if warnings is not None else [()] * len(drafts)
    return [
        await prepare(session, draft, now=now, warnings=w)
        for draft, w in zip(drafts, notes, strict=True)
    ]


async def score_batch(engine: Engine, prepared: Sequence[Prepared]) -> list[Scored]:
    """Every draft's engine run concurrently, input order kept."""
    return list(await asyncio.gather(*(score(engine, p) for p in prepared)))


async def analyze_batch(
    session: AsyncSession,
    engine: Engine,
    *,
    user: User,
    drafts: Sequence[Draft],
    now: datetime | None = None,
) -> list[AnalysisRead]:
    """Score every draft (engine work runs concurrently), store each, input order kept."""
    prepared = await prepare_batch(session, drafts, now=now or datetime.now(UTC))
    return await store(session, user=user, scored=await score_batch(engine, prepared))
