"""API shapes for outcomes, the track record and calibration reports."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from virtuna.engine.urls import check_tiktok_url
from virtuna.predictions.schemas import AnalysisRead

# Plausible upper bounds: TikTok's most-viewed videos are below 3e9 views.
MAX_VIEWS = 10_000_000_000
MAX_HOURS = 24 * 366
ENGAGEMENT = ("likes", "comments", "shares", "saves")


class OutcomeCreate(BaseModel):
    """What a creator reports after posting (or just the posted URL, to be followed up)."""

    model_config = ConfigDict(extra="forbid")

    analysis_id: uuid.UUID
    posted_url: str | None = Field(default=None, max_length=2048)
    posted_at: datetime | None = None
    # When the numbers were read; send it so a retried report is recognised as the same one.
    observed_at: datetime | None = None
    hours_since_posting: float | None = Field(default=None, ge=0, le=MAX_HOURS)
    views: int | None = Field(default=None, ge=0, le=MAX_VIEWS)
    likes: int | None = Field(default=None, ge=0, le=MAX_VIEWS)
    comments: int | None = Field(default=None, ge=0, le=MAX_VIEWS)
    shares: int | None = Field(default=None, ge=0, le=MAX_VIEWS)
    saves: int | None = Field(default=None, ge=0, le=MAX_VIEWS)
    avg_watch_seconds: float | None = Field(default=None, ge=0, le=3600)
    completion_rate: float | None = Field(default=None, ge=0, le=1)

    @field_validator("views", "likes", "comments", "shares", "saves", mode="before")
    @classmethod
    def _whole_numbers(cls, value: Any) -> Any:
        # Counts are integers: 12.5 views is a typo, not something to round silently.
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("must be a whole number")
        return value

    @field_validator("posted_url")
    @classmethod
    def _tiktok_only(cls, value: str | None) -> str | None:
        return check_tiktok_url(value)

    @field_validator("posted_at", "observed_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        counts = [self.views, *(getattr(self, name) for name in ENGAGEMENT)]
        if (
            self.posted_url is None
            and all(c is None for c in counts)
            and (self.avg_watch_seconds is None and self.completion_rate is None)
        ):
            raise ValueError("give posted_url or at least one metric")
        if self.views is not None:
            for name in ENGAGEMENT:
                value = getattr(self, name)
                if value is not None and value > self.views:
                    raise ValueError(f"{name} ({value}) cannot exceed views ({self.views})")
        return self


class OutcomeRead(BaseModel):
    id: uuid.UUID
    analysis_id: uuid.UUID
    source: str
    observed_at: datetime
    posted_at: datetime | None
    posted_url: str | None
    hours_since_posting: float | None
    views: int | None
    likes: int | None
    comments: int | None
    shares: int | None
    saves: int | None
    avg_watch_seconds: float | None
    completion_rate: float | None
    observed_tier: int | None  # the bundle's tier cut-offs applied to views
    created_at: datetime


class FollowUpRead(BaseModel):
    checkpoint: str
    due_at: datetime
    status: str


class Comparison(BaseModel):
    """How the prediction compared with the outcome used for it."""

    horizon_days: int
    horizon_reached: bool  # False: the latest snapshot is younger than the horizon
    observed_at: datetime
    views: int
    observed_tier: int
    predicted_tier: int | None  # the most likely tier of the served tier probabilities
    tier_error: int | None  # observed − predicted
    probability_of_observed_tier: float | None


class AnalysisOutcomes(BaseModel):
    analysis_id: uuid.UUID
    overall_score: float
    tier_probabilities: list[float] | None
    is_calibrated: bool
    calibrator_version: str | None
    posted_at: datetime | None
    outcomes: list[OutcomeRead]
    follow_ups: list[FollowUpRead]
    comparison: Comparison | None


class AnalysisDetail(AnalysisRead):
    """``GET /api/analysis/{id}``: the stored result, plus what happened after posting."""

    outcomes: list[OutcomeRead] = Field(default_factory=list)
    follow_ups: list[FollowUpRead] = Field(default_factory=list)
    comparison: Comparison | None = None


class PendingItem(BaseModel):
    analysis_id: uuid.UUID
    created_at: datetime
    planned_post_at: datetime
    hours_since_planned: float
    snippet: str


class PendingPage(BaseModel):
    prompt_after_hours: int
    items: list[PendingItem]


class Accuracy(BaseModel):
    """The caller's track record on outcomes at least ``horizon_days`` after posting."""

    horizon_days: int
    count: int
    awaiting_horizon: int  # analyses with outcomes, none old enough yet
    spearman: float | None  # rank correlation of score and views (None below 3 rows)
    mean_abs_tier_error: float | None
    exact_tier_rate: float | None
    within_one_tier_rate: float | None
