"""API shapes for analyses."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from virtuna.engine.draft import Draft
from virtuna.engine.result import AnalysisResult

MAX_BATCH = 50


class AnalysisRead(AnalysisResult):
    """A stored analysis: the engine's result plus its identity."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: uuid.UUID
    created_at: datetime
    # The calibrator applied to tier_probabilities (None = served uncalibrated).
    calibrator_version: str | None = None


class AnalysisSummary(BaseModel):
    id: uuid.UUID
    created_at: datetime
    input_mode: str
    content_type: str
    overall_score: float
    tier: int
    confidence_label: str
    snippet: str


class HistoryPage(BaseModel):
    items: list[AnalysisSummary]
    next_cursor: str | None


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    drafts: list[Draft] = Field(min_length=1, max_length=MAX_BATCH)


class RankedAnalysis(BaseModel):
    rank: int
    index: int  # position in the request
    # True when the next-ranked draft is not reliably worse (see docs/ENGINE.md); None when
    # no uncertainty estimate exists (no ML tier probabilities).
    within_noise_of_next: bool | None
    analysis: AnalysisRead


class BatchResponse(BaseModel):
    results: list[RankedAnalysis]
