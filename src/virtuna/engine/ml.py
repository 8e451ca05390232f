"""The ML stage: build the model's pre-posting input and ask a loaded ``Predictor``.

The model itself is trained elsewhere (training issue) and loaded by the service; without
one the stage is simply unavailable. The input is built only from what exists before
posting — the same ``PrePostingInput`` training builds from scraped items — so there is no
train/serve skew of the kind ENGINE_SPEC §8.1 describes (LLM scores standing in for rates).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

from virtuna.engine.features import PrePostingInput
from virtuna.engine.normalize import NormalizedDraft
from virtuna.engine.trends import is_original_sound
from virtuna.engine.types import CreatorContext, MLPrediction, TrendSnapshot


class Predictor(Protocol):
    @property
    def version(self) -> str: ...

    def predict(self, inp: PrePostingInput) -> MLPrediction: ...


def build_ml_input(
    draft: NormalizedDraft,
    *,
    creator: CreatorContext | None,
    trends: TrendSnapshot | None,
    now: datetime,
) -> PrePostingInput:
    posted_at = draft.scheduled_for or now
    if posted_at.tzinfo is None:
        posted_at = posted_at.replace(tzinfo=UTC)
    return PrePostingInput(
        caption=draft.text,
        hashtags=draft.hashtags,
        posted_at=posted_at.astimezone(UTC),
        duration_seconds=draft.duration_seconds,
        sound_title=draft.sound_title,
        sound_author=draft.sound_author,
        sound_original=_sound_original(draft),
        creator=creator,
        trends=trends,
    )


def merge_creator(
    creator: CreatorContext | None, draft: NormalizedDraft, now: datetime
) -> CreatorContext | None:
    """Merge what the draft states about its creator into the caller's context.

    The draft's own follower count and verified flag win: they are what the creator says
    now, while the caller's context holds the last value seen in scraped data.
    """
    followers, verified = draft.creator_followers, draft.creator_verified
    if creator is None:
        if followers is None and verified is None:
            return None
        return CreatorContext(
            as_of=draft.scheduled_for or now,
            handle=draft.creator_handle,
            followers=followers,
            verified=verified,
        )
    return replace(
        creator,
        followers=creator.followers if followers is None else followers,
        verified=creator.verified if verified is None else verified,
    )


def ml_input(
    draft: NormalizedDraft,
    *,
    creator: CreatorContext | None,
    trends: TrendSnapshot | None,
    now: datetime,
) -> PrePostingInput:
    """Exactly what the engine's ML stage predicts from for this draft and context (the
    creator facts the draft states merged in); training builds its rows with it too."""
    merged = merge_creator(creator, draft, now)
    return build_ml_input(draft, creator=merged, trends=trends, now=now)


def check_prediction(prediction: MLPrediction) -> MLPrediction:
    """Refuse a malformed prediction rather than let it skew the blend."""
    if not 0 <= prediction.score <= 100:
        raise ValueError(f"ML score {prediction.score} outside 0–100")
    if not 1 <= prediction.tier <= 5 or len(prediction.tier_probabilities) != 5:
        raise ValueError("ML tier must be 1–5 with five probabilities")
    if abs(sum(prediction.tier_probabilities) - 1) > 1e-3:
        raise ValueError("ML tier probabilities must sum to 1")
    return prediction


def _sound_original(draft: NormalizedDraft) -> bool | None:
    """The creator's word wins; otherwise a placeholder title ("original sound") tells."""
    if draft.sound_original is not None:
        return draft.sound_original
    return is_original_sound(draft.sound_title) if draft.sound_title else None
