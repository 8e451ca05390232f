from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.engine.builders import NOW, snapshot, tag
from virtuna.engine.draft import parse_draft
from virtuna.engine.features import FEATURE_NAMES, PrePostingInput, build_features
from virtuna.engine.ml import build_ml_input, check_prediction
from virtuna.engine.normalize import normalize_draft
from virtuna.engine.types import CreatorContext, MLPrediction


def prediction(score: float = 60.0, tier: int = 3) -> MLPrediction:
    return MLPrediction(score, 0.6, tier, (0.1, 0.2, 0.4, 0.2, 0.1), 4.5, "test-model-1")


def test_ml_input_carries_only_pre_posting_values() -> None:
    draft = normalize_draft(
        parse_draft(
            {
                "input_mode": "text",
                "content_text": "Phở 45s #pho #Hanoi",
                "sound_title": "nhạc nền - Chén Sạch",
                "scheduled_for": "2025-05-01T08:00:00+07:00",
            }
        )
    )
    creator = CreatorContext(as_of=NOW, followers=100)
    snap = snapshot(hashtags=(tag("pho"),))
    inp = build_ml_input(draft, creator=creator, trends=snap, now=NOW)
    assert inp.caption == "Phở 45s #pho #Hanoi"
    assert inp.hashtags == ("pho", "hanoi")
    assert inp.posted_at == datetime(2025, 5, 1, 1, 0, tzinfo=UTC)
    assert inp.duration_seconds == 45
    assert inp.sound_original is True
    assert inp.creator is creator
    assert inp.trends is snap


def test_ml_input_uses_now_without_a_schedule_and_builds_features() -> None:
    draft = normalize_draft(parse_draft({"input_mode": "text", "content_text": "hello"}))
    inp = build_ml_input(draft, creator=None, trends=None, now=NOW)
    assert inp.posted_at == NOW
    assert inp.sound_original is None
    features = build_features(inp)
    assert set(features) == set(FEATURE_NAMES)


@pytest.mark.parametrize(
    "bad",
    [
        MLPrediction(120.0, 0.5, 3, (0.2, 0.2, 0.2, 0.2, 0.2), 1.0, "m"),
        MLPrediction(50.0, 0.5, 6, (0.2, 0.2, 0.2, 0.2, 0.2), 1.0, "m"),
        MLPrediction(50.0, 0.5, 3, (0.5, 0.5, 0.5, 0.2, 0.2), 1.0, "m"),
    ],
)
def test_malformed_predictions_are_refused(bad: MLPrediction) -> None:
    with pytest.raises(ValueError, match="ML"):
        check_prediction(bad)


def test_well_formed_prediction_passes() -> None:
    good = prediction()
    assert check_prediction(good) is good


class FeaturePredictor:
    """A stand-in model that goes through the real feature builder."""

    version = "test-model-1"

    def __init__(self) -> None:
        self.inputs: list[PrePostingInput] = []

    def predict(self, inp: PrePostingInput) -> MLPrediction:
        self.inputs.append(inp)
        build_features(inp)
        return prediction()
