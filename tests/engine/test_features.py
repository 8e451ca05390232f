from __future__ import annotations

import dataclasses
import gzip
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from virtuna.engine.draft import parse_draft
from virtuna.engine.features import (
    FEATURE_GROUPS,
    FEATURE_NAMES,
    LANG_LATIN,
    LANG_NONE,
    LANG_OTHER,
    LANG_VI,
    PrePostingInput,
    build_features,
    caption_language,
    sound_key,
)
from virtuna.engine.ml import ml_input
from virtuna.engine.normalize import normalize_draft
from virtuna.engine.scraped import draft_from_scraper_item
from virtuna.engine.types import CreatorContext, HashtagTrend, SoundTrend, TrendSnapshot

OUTCOME_WORDS = ("view", "play", "like", "digg", "share", "comment", "collect", "save",
                 "scrape", "engagement", "outcome", "count")  # fmt: skip
NOW = datetime(2025, 3, 1, 14, 30, tzinfo=UTC)


def _input(**overrides: Any) -> PrePostingInput:
    base = PrePostingInput(
        caption="POV: bạn có biết cách làm gà sốt? 😋🔥 Follow @chen.sach #foodreview #fyp",
        hashtags=("foodreview", "fyp"),
        posted_at=NOW,
        duration_seconds=45.0,
        sound_title="nhạc nền",
        sound_author="Chén Sạch",
        sound_original=True,
        creator=None,
        trends=None,
    )
    return dataclasses.replace(base, **overrides)


def _is_nan(x: float) -> bool:
    return isinstance(x, float) and math.isnan(x)


def test_feature_names_are_unique_and_grouped() -> None:
    assert len(FEATURE_NAMES) == len(set(FEATURE_NAMES))
    assert set(FEATURE_NAMES) == {n for names in FEATURE_GROUPS.values() for n in names}
    assert tuple(build_features(_input())) == FEATURE_NAMES


def test_pre_posting_input_has_no_outcome_fields() -> None:
    names = [f.name.lower() for f in dataclasses.fields(PrePostingInput)]
    assert not [n for n in names if any(w in n for w in OUTCOME_WORDS)]
    # Feature names must not smuggle outcomes either (views-based history is named
    # explicitly below and comes from *earlier* videos via CreatorContext/TrendSnapshot).
    allowed = {"log_median_views", "log_recent_median_views", "median_views_per_follower",
               "tag_max_log_median_views", "tag_mean_log_median_views",
               "sound_log_median_views", "tag_max_log_count", "tag_mean_log_count",
               "sound_log_count", "hashtag_count", "mention_count", "cta_count",
               "hook_count", "emoji_count", "generic_tag_count"}  # fmt: skip
    leaky = [n for n in FEATURE_NAMES if n not in allowed and any(w in n for w in OUTCOME_WORDS)]
    assert leaky == []


def _draft_input(item: dict[str, Any]) -> PrePostingInput:
    """The ML input the product builds for a scraped item (the path training uses too)."""
    submitted = draft_from_scraper_item(item)
    draft = normalize_draft(parse_draft(submitted))
    ctx = CreatorContext(as_of=NOW, followers=draft.creator_followers)
    return ml_input(draft, creator=ctx, trends=None, now=NOW)


def test_outcome_fields_do_not_change_features(tiktok_data_dir: Path) -> None:
    outcome = {"playCount", "diggCount", "shareCount", "commentCount", "collectCount",
               "scrapedAt"}  # fmt: skip
    checked = 0
    for path in sorted(tiktok_data_dir.glob("*/videos.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            items = [json.loads(next(fh)) for _ in range(150)]
        for item in items:
            stripped = {k: v for k, v in item.items() if k not in outcome}
            assert set(item) - set(stripped)  # the real item did carry outcomes
            assert draft_from_scraper_item(item) == draft_from_scraper_item(stripped)
            a = build_features(_draft_input(item))
            b = build_features(_draft_input(stripped))
            assert [x for x in a.values() if not _is_nan(x)] == [
                x for x in b.values() if not _is_nan(x)
            ]
            assert [_is_nan(x) for x in a.values()] == [_is_nan(x) for x in b.values()]
            checked += 1
    assert checked == 450


def test_caption_features() -> None:
    f = build_features(_input())
    assert f["hashtag_count"] == 2
    assert f["mention_count"] == 1
    assert f["has_question"] == 1
    assert f["emoji_count"] == 2
    assert f["cta_count"] >= 1  # "Follow"
    assert f["hook_count"] >= 2  # "POV", "bạn có biết"
    assert f["caption_lang"] == LANG_VI
    assert f["has_caption"] == 1
    empty = build_features(_input(caption="", hashtags=()))
    assert (empty["has_caption"], empty["caption_chars"], empty["hashtag_count"]) == (0, 0, 0)


@pytest.mark.parametrize(
    ("text", "lang"),
    [("", LANG_NONE), ("Đi ăn phở", LANG_VI), ("wait for it", LANG_LATIN),
     ("오늘의 브이로그", LANG_OTHER), ("😂😂", LANG_NONE)],
)  # fmt: skip
def test_caption_language(text: str, lang: float) -> None:
    assert caption_language(text) == lang


def test_duration_timing_and_sound() -> None:
    f = build_features(_input())
    assert (f["duration_seconds"], f["duration_missing"], f["is_photo"]) == (45.0, 0.0, 0.0)
    assert (f["hour_utc"], f["weekday_utc"]) == (14.0, 5.0)  # Saturday
    assert (f["has_sound"], f["sound_original"]) == (1.0, 1.0)
    photo = build_features(_input(duration_seconds=0.0))
    assert photo["is_photo"] == 1.0
    unknown = build_features(_input(duration_seconds=None, sound_original=None))
    assert unknown["duration_missing"] == 1.0
    assert _is_nan(unknown["duration_seconds"])
    assert _is_nan(unknown["sound_original"])


def test_unknown_creator_is_nan_not_zero() -> None:
    f = build_features(_input())
    assert all(_is_nan(f[n]) for n in FEATURE_GROUPS["creator"])
    ctx = CreatorContext(
        as_of=NOW,
        followers=9999,
        verified=True,
        prior_video_count=3,
        median_views=999.0,
        recent_median_views=99.0,
        posts_per_week=2.0,
    )
    g = build_features(_input(creator=ctx))
    assert g["log_followers"] == pytest.approx(math.log1p(9999))
    assert g["log_median_views"] == pytest.approx(math.log1p(999))
    assert g["recent_vs_median"] == pytest.approx(math.log1p(99) - math.log1p(999))
    assert g["verified"] == 1.0
    assert g["log_prior_videos"] == pytest.approx(math.log(4))


def test_trend_features_read_only_the_drafts_tags_and_sound() -> None:
    snapshot = TrendSnapshot(
        as_of=NOW, window_days=30, total_videos=100,
        hashtags=(HashtagTrend("foodreview", 9, 1000.0, 0.0, None),
                  HashtagTrend("fyp", 99, 5000.0, 0.0, None, is_generic=True),
                  HashtagTrend("other", 50, 1e6, 0.0, None)),
        sounds=(SoundTrend(sound_key("Nhạc nền", "chén sạch") or "", "nhạc nền", "chén sạch",
                           True, 4, 300.0, 0.0, None),),
    )  # fmt: skip
    f = build_features(_input(trends=snapshot))
    assert f["tag_max_log_count"] == pytest.approx(math.log1p(9))  # generic fyp excluded
    assert f["tag_max_log_median_views"] == pytest.approx(math.log1p(1000))
    assert f["tag_known_fraction"] == 1.0
    assert f["generic_tag_count"] == 1.0
    assert f["sound_log_count"] == pytest.approx(math.log1p(4))
    none = build_features(_input(trends=None))
    assert _is_nan(none["tag_max_log_count"])
    assert none["generic_tag_count"] == 1.0
    unseen = build_features(_input(trends=TrendSnapshot(as_of=NOW, window_days=30,
                                                        total_videos=0)))  # fmt: skip
    assert unseen["tag_known_fraction"] == 0.0
    assert unseen["sound_log_count"] == 0.0


def test_placeholder_original_sound_without_author_is_not_a_trend() -> None:
    assert sound_key("original sound", None) is None
    assert sound_key("Original Sound", "Shaq") == "original sound|shaq"
    assert sound_key(None, "x") is None
