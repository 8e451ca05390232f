"""Measured video signals in the engine: video rules, the ML duration, what the content
model may see, and the API-facing guarantees of the draft."""

from __future__ import annotations

import pytest

from tests.engine.builders import NOW
from tests.engine.test_ml import FeaturePredictor
from virtuna.engine.draft import Draft
from virtuna.engine.features import build_features
from virtuna.engine.llm.fakes import FakeContentAnalyzer
from virtuna.engine.llm.protocols import ContentAnalysis, ContentRequest
from virtuna.engine.pipeline import Engine
from virtuna.engine.rules import RuleSet, load_default_rules, rule_from_mapping
from virtuna.engine.video import VideoSignals

GOOD = VideoSignals(
    duration_seconds=14.6,
    width=1080,
    height=1920,
    fps=30.0,
    has_audio=True,
    loudness_dbfs=-14.0,
    cuts_first_3s=2,
    container="mp4",
    size_bytes=2_000_000,
)
POOR = VideoSignals(
    duration_seconds=95.0,
    width=640,
    height=480,
    fps=12.0,
    has_audio=False,
    cuts_first_3s=0,
    container="webm",
    size_bytes=900_000,
)
VIDEO_RULES = {r.name for r in load_default_rules() if r.tier == "video"}


def upload(video: VideoSignals, **extra: object) -> dict[str, object]:
    return {
        "input_mode": "video_upload",
        "video_path": "/data/uploads/abc.mp4",
        "content_text": "Wait for it #cooking",
        "video": video,
        **extra,
    }


async def test_every_video_rule_fires_on_a_well_made_vertical_clip() -> None:
    result = await RuleSet(load_default_rules()).score("", None, GOOD)
    fired = {m.rule_name for m in result.matches if m.tier == "video"}
    assert fired == VIDEO_RULES
    assert not [r for r in result.missed if r.tier == "video"]


async def test_a_poor_clip_misses_them_and_silence_skips_loudness() -> None:
    result = await RuleSet(load_default_rules()).score("", None, POOR)
    missed = {r.name for r in result.missed if r.tier == "video"}
    assert missed == {
        "vertical_9_16",
        "hook_cut_first_3s",
        "duration_sweet_spot",
        "has_audio",
        "hd_resolution",
        "smooth_frame_rate",
    }
    assert "audible_loudness" not in result.evaluated  # no audio: loudness not measurable


async def test_a_quiet_track_misses_only_the_loudness_rule() -> None:
    quiet = GOOD.model_copy(update={"loudness_dbfs": -42.0})
    result = await RuleSet(load_default_rules()).score("", None, quiet)
    assert {r.name for r in result.missed if r.tier == "video"} == {"audible_loudness"}


async def test_text_drafts_do_not_evaluate_video_rules() -> None:
    result = await RuleSet(load_default_rules()).score("What if? #food", None)
    assert not VIDEO_RULES & set(result.evaluated)


def test_video_rule_needs_a_known_signal_and_a_bound() -> None:
    base = {"name": "v", "category": "format", "tier": "video"}
    with pytest.raises(ValueError, match="unknown signal"):
        rule_from_mapping({**base, "signal": "colourfulness", "min_value": 1})
    with pytest.raises(ValueError, match="min_value or max_value"):
        rule_from_mapping({**base, "signal": "fps"})


async def test_upload_scores_video_rules_and_suggests_fixes() -> None:
    result = await Engine().analyze(upload(POOR), now=NOW)
    vector = result.feature_vector
    assert vector["rule.has_audio"] == 0.0
    assert vector["rule.vertical_9_16"] == 0.0
    assert vector["video.cuts_first_3s"] == 0.0
    texts = [s.text for s in result.suggestions if s.source == "video"]
    assert any(t.startswith("Add sound") for t in texts)
    assert any("9:16" in t for t in texts)
    assert any("measured signals" in w for w in result.warnings)
    good = await Engine().analyze(upload(GOOD), now=NOW)
    assert good.signals["rules"].score is not None
    assert result.signals["rules"].score is not None
    assert good.signals["rules"].score > result.signals["rules"].score


async def test_ml_duration_is_the_measured_one_in_whole_seconds() -> None:
    predictor = FeaturePredictor()
    draft = upload(GOOD, content_text="A 60s recipe #cooking", duration_hint_seconds=30)
    await Engine(predictor=predictor).analyze(draft, now=NOW)
    (inp,) = predictor.inputs
    assert inp.duration_seconds == 15.0  # 14.6 s measured beats the hint and the "60s" text
    features = build_features(inp)
    assert features["duration_seconds"] == 15.0
    assert features["duration_missing"] == 0.0
    assert features["is_photo"] == 0.0


class RecordingAnalyzer(FakeContentAnalyzer):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[ContentRequest] = []

    async def analyze(self, request: ContentRequest) -> ContentAnalysis:
        self.requests.append(request)
        return await super().analyze(request)


async def test_content_model_gets_the_stored_upload_only_with_measured_signals() -> None:
    analyzer = RecordingAnalyzer()
    engine = Engine(content_analyzer=analyzer)
    await engine.analyze(upload(GOOD), now=NOW)
    await engine.analyze({**upload(GOOD), "video": None}, now=NOW)  # an unmeasured path
    measured, unmeasured = analyzer.requests
    assert measured.video is not None
    assert measured.video.path == "/data/uploads/abc.mp4"
    assert measured.video.mime_type == "video/mp4"
    assert measured.video.size_bytes == 2_000_000
    assert unmeasured.video is None  # a path alone is never read


def test_measured_signals_stay_out_of_the_published_schema() -> None:
    assert "video" not in Draft.model_json_schema()["properties"]
    assert "video_path" in Draft.model_json_schema()["properties"]
