from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

import virtuna.engine.bundle as bundle_module
from virtuna.engine.bundle import (
    FALLBACK_SUFFIX,
    BundleError,
    ModelBundle,
    default_bundle_path,
    load_default_bundle,
)
from virtuna.engine.features import PrePostingInput
from virtuna.engine.types import CreatorContext, MLPrediction

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)


def _draft(median_views: float | None = 20000.0, followers: int = 50000) -> PrePostingInput:
    return PrePostingInput(
        caption="Quán gà sốt ngon nhất Cầu Giấy #ancungtiktok #foodreview",
        hashtags=("ancungtiktok", "foodreview"),
        posted_at=NOW,
        duration_seconds=40.0,
        sound_title="nhạc nền - Chén Sạch",
        sound_author="Chén Sạch",
        sound_original=True,
        creator=CreatorContext(
            as_of=NOW, handle="chensach", followers=followers, verified=False,
            prior_video_count=0 if median_views is None else 30, median_views=median_views,
            recent_median_views=median_views, posts_per_week=None if median_views is None else 3.0,
        ),
        trends=None,
    )  # fmt: skip


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    loaded = load_default_bundle()
    assert loaded is not None, "the package must ship a model bundle"
    return loaded


def test_shipped_bundle_predicts_a_complete_prediction(bundle: ModelBundle) -> None:
    p = bundle.predict(_draft())
    assert isinstance(p, MLPrediction)
    assert 0.0 <= p.score <= 100.0
    assert p.score == pytest.approx(100 * p.percentile, abs=0.01)
    assert sum(p.tier_probabilities) == pytest.approx(1.0)
    assert p.tier == 1 + max(range(5), key=lambda i: p.tier_probabilities[i])
    assert p.model_version == bundle.version
    assert bundle.version.startswith("lgbm-")


def test_shipped_bundle_is_small() -> None:
    path = default_bundle_path()
    assert path is not None
    assert sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) < 2_000_000


def test_creator_history_drives_the_score(bundle: ModelBundle) -> None:
    low, high = bundle.predict(_draft(2_000.0)), bundle.predict(_draft(2_000_000.0))
    assert high.score > low.score + 20
    assert high.tier_probabilities[4] > low.tier_probabilities[4]


def test_predict_many_matches_predict(bundle: ModelBundle) -> None:
    drafts = [_draft(), _draft(None), _draft(5e5, followers=10)]
    assert bundle.predict_many(drafts) == [bundle.predict(d) for d in drafts]
    assert bundle.predict_many([]) == []


def test_contributions_are_per_feature_group(bundle: ModelBundle) -> None:
    p = bundle.predict(_draft(), contributions=True)
    assert set(p.contributions) <= {"caption", "format", "timing", "sound", "trends", "creator"}
    assert "creator" in p.contributions


def test_unknown_creator_still_gives_finite_probabilities(bundle: ModelBundle) -> None:
    p = bundle.predict(replace(_draft(None), creator=None))
    assert all(0.0 < x < 1.0 for x in p.tier_probabilities)


def test_missing_bundle_is_a_bundle_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="cannot read model bundle"):
        ModelBundle.load(tmp_path)


def test_round_trip_keeps_predictions(bundle: ModelBundle, tmp_path: Path) -> None:
    copy = ModelBundle.load(bundle.save(tmp_path / "copy"))
    assert copy.predict(_draft()) == bundle.predict(_draft())


def test_bulk_scoring_routes_unknown_creators_in_order(
    bundle: ModelBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bundle_module, "PIPELINE_CHUNK", 4)
    known = [_draft(followers=1_000 * (i + 1)) for i in range(10)]
    unknown = [replace(_draft(None), creator=None, duration_seconds=float(5 + i)) for i in range(6)]
    # Chunks of 4: all known, mixed, all unknown, mixed...
    inputs = known[:4] + known[4:6] + unknown[:2] + unknown[2:6] + known[6:]
    bulk = bundle.predict_many(inputs)
    assert bulk == [bundle.predict(inp) for inp in inputs]
    assert bundle.fallback is not None
    routed = [p.model_version == bundle.fallback.version for p in bulk]
    assert routed == [inp.creator is None for inp in inputs]


def test_shipped_bundle_scores_unknown_creators_with_its_content_model(
    bundle: ModelBundle,
) -> None:
    p = bundle.predict(replace(_draft(None), creator=None))
    assert bundle.fallback is not None
    assert p.model_version == bundle.version + FALLBACK_SUFFIX
    # Not "zero followers": the content-only model spreads its mass over the tiers.
    assert max(p.tier_probabilities) < 0.8
