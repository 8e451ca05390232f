"""Pre-posting feature builder: the single function used at training and at serving time.

Training (``virtuna.training``) and the engine's ML stage both turn a draft into a
``PrePostingInput`` and call ``build_features``; there is no second code path, so the model
cannot see at serving anything other than what it saw in training (the failure of the
earlier system: ENGINE_SPEC §1.9 / §8.1).

``PrePostingInput`` has no field for views, likes, shares, comments or saves: outcomes
cannot reach the model through it. Creator history and trend statistics do use *earlier*
videos' views, but only as of the draft's posting time (``CreatorContext`` and
``TrendSnapshot`` are point-in-time by contract).

Unknown values are ``NaN`` (LightGBM routes them as "missing"), never 0: a creator we know
nothing about is not a creator with zero followers.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass
from datetime import datetime

from virtuna.engine.types import CreatorContext, HashtagTrend, SoundTrend, TrendSnapshot

NAN = float("nan")


@dataclass(frozen=True, slots=True)
class PrePostingInput:
    caption: str
    hashtags: tuple[str, ...]  # lowercase, without '#', in order, deduplicated
    posted_at: datetime  # tz-aware UTC: create time, scheduled_for, or now
    duration_seconds: float | None
    sound_title: str | None
    sound_author: str | None
    sound_original: bool | None
    creator: CreatorContext | None
    trends: TrendSnapshot | None  # snapshot as of posted_at (built from earlier videos only)


# Feature groups are the unit of the ablation table and of MLPrediction.contributions.
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "caption": (
        "caption_chars",
        "caption_words",
        "hashtag_count",
        "mention_count",
        "has_question",
        "cta_count",
        "hook_count",
        "emoji_count",
        "has_caption",
        "caption_lang",
    ),
    "format": ("duration_seconds", "duration_missing", "is_photo"),
    "timing": ("hour_utc", "weekday_utc"),
    "sound": ("has_sound", "sound_original"),
    "trends": (
        "tag_known_fraction",
        "tag_max_log_count",
        "tag_mean_log_count",
        "tag_max_log_median_views",
        "tag_mean_log_median_views",
        "generic_tag_count",
        "sound_log_count",
        "sound_log_median_views",
    ),
    "creator": (
        "log_followers",
        "verified",
        "log_prior_videos",
        "log_median_views",
        "log_recent_median_views",
        "posts_per_week",
        "median_views_per_follower",
        "recent_vs_median",
    ),
}

FEATURE_NAMES: tuple[str, ...] = tuple(n for names in FEATURE_GROUPS.values() for n in names)

GROUP_OF_FEATURE: dict[str, str] = {
    name: group for group, names in FEATURE_GROUPS.items() for name in names
}

# Catch-all tags attached to everything: their usage says nothing about the draft's topic.
GENERIC_HASHTAGS: frozenset[str] = frozenset(
    {
        "fyp", "foryou", "foryoupage", "fypシ", "fypage", "viral", "trending", "trend",
        "tiktok", "xuhuong", "xuhướng", "xh", "fy", "foryourpage", "viralvideo", "explore",
        "explorepage", "tiktokviral", "trend2024", "trending2024", "capcut", "duet",
    }
)  # fmt: skip

# Calls to action and story hooks, English and Vietnamese (the languages of the data).
_CTA_RE = re.compile(
    r"\b(follow|like|share|comment|subscribe|link in bio|tag (a|your)|save this|"
    r"theo dõi|thả tim|chia sẻ|bình luận|cmt|follow mình|xem thêm|lưu lại|tag bạn|"
    r"ủng hộ)\b",
    re.IGNORECASE,
)
_HOOK_RE = re.compile(
    r"\b(pov|storytime|story time|wait for it|part \d+|phần \d+|tập \d+|did you know|"
    r"how to|when you|bạn có biết|ai đã từng|khi bạn|cách|bí quyết|sự thật|"
    r"đừng bỏ lỡ|review)\b",
    re.IGNORECASE,
)
_MENTION_RE = re.compile(r"@[\w.]+")
_HASHTAG_RE = re.compile(r"#[^\s#]+")
_EMOJI_RE = re.compile("[\U0001f300-\U0001faff\U00002600-\U000027bf\U0001f1e6-\U0001f1ff]")
# Letters only Vietnamese uses among Latin scripts (đ, ơ, ư, ă and the stacked tone marks).
_VI_RE = re.compile(r"[đơưăạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.IGNORECASE)
_LATIN_RE = re.compile(r"[a-z]", re.IGNORECASE)
_OTHER_SCRIPT_RE = re.compile(r"[\u0400-\u04ff\u0590-\u06ff\u0900-\u0dff\u0e00-\u0e7f"
                              r"\u1100-\u11ff\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")  # fmt: skip
_ORIGINAL_SOUND_RE = re.compile(
    r"^(original sound|nhạc nền|âm thanh gốc|son original|som original)"
)

LANG_NONE, LANG_VI, LANG_LATIN, LANG_OTHER = 0.0, 1.0, 2.0, 3.0


def caption_language(text: str) -> float:
    """Cheap script-based language id: none / Vietnamese / other Latin / other script.

    Good enough to tell the data's three populations apart at the price of a regex; a real
    language-id model would add a dependency for a feature the ablation shows is weak.
    """
    if not text.strip():
        return LANG_NONE
    if _VI_RE.search(text):
        return LANG_VI
    other = len(_OTHER_SCRIPT_RE.findall(text))
    latin = len(_LATIN_RE.findall(text))
    if other > latin:
        return LANG_OTHER
    return LANG_LATIN if latin else LANG_NONE


def sound_key(title: str | None, author: str | None) -> str | None:
    """The identity a sound is counted under in trend snapshots (None: not countable).

    Placeholder titles such as "original sound" without an author would lump every
    creator's own audio into one giant "trend", so they are not counted.
    """
    t = (title or "").strip().lower()
    a = (author or "").strip().lower()
    if not t:
        return None
    if not a and _ORIGINAL_SOUND_RE.match(t):
        return None
    return f"{t}|{a}"


def _log1p(value: float | None) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NAN
    return math.log1p(max(value, 0.0))


def _caption_features(inp: PrePostingInput) -> dict[str, float]:
    text = inp.caption or ""
    # Hashtags may live in the caption or only in the structured list; count the union.
    caption_tags = {t[1:].lower() for t in _HASHTAG_RE.findall(text)}
    tag_count = len(caption_tags | set(inp.hashtags))
    return {
        "caption_chars": float(len(text.strip())),
        "caption_words": float(len(text.split())),
        "hashtag_count": float(tag_count),
        "mention_count": float(len(_MENTION_RE.findall(text))),
        "has_question": 1.0 if "?" in text else 0.0,
        "cta_count": float(len(_CTA_RE.findall(text))),
        "hook_count": float(len(_HOOK_RE.findall(text))),
        "emoji_count": float(len(_EMOJI_RE.findall(text))),
        "has_caption": 1.0 if text.strip() else 0.0,
        "caption_lang": caption_language(text),
    }


def _format_timing_sound(inp: PrePostingInput) -> dict[str, float]:
    duration = inp.duration_seconds
    # UTC on purpose: a creator's time zone is unknown at serving time for most drafts,
    # and a guessed local hour would differ between training and serving.
    posted = inp.posted_at
    has_sound = bool((inp.sound_title or "").strip() or (inp.sound_author or "").strip())
    return {
        "duration_seconds": NAN if duration is None else float(duration),
        "duration_missing": 1.0 if duration is None else 0.0,
        # Duration 0 is how the scraper reports photo/slideshow posts.
        "is_photo": NAN if duration is None else (1.0 if duration <= 0 else 0.0),
        "hour_utc": float(posted.hour),
        "weekday_utc": float(posted.weekday()),
        "has_sound": 1.0 if has_sound else 0.0,
        "sound_original": NAN if inp.sound_original is None else float(inp.sound_original),
    }


def _tag_stats(matched: list[HashtagTrend]) -> dict[str, float]:
    counts = [math.log1p(t.video_count) for t in matched]
    medians = [math.log1p(t.median_views) for t in matched if t.median_views is not None]
    return {
        "tag_max_log_count": max(counts) if counts else NAN,
        "tag_mean_log_count": statistics.fmean(counts) if counts else NAN,
        "tag_max_log_median_views": max(medians) if medians else NAN,
        "tag_mean_log_median_views": statistics.fmean(medians) if medians else NAN,
    }


def _find_sound(trends: TrendSnapshot, key: str | None) -> SoundTrend | None:
    if key is None:
        return None
    for sound in trends.sounds:
        if sound.sound_id == key or sound_key(sound.title, sound.author) == key:
            return sound
    return None


def _trend_features(inp: PrePostingInput) -> dict[str, float]:
    tags = [t for t in inp.hashtags if t]
    trends = inp.trends
    by_tag = {h.tag: h for h in trends.hashtags} if trends is not None else {}
    generic = {t for t in tags if t in GENERIC_HASHTAGS or (t in by_tag and by_tag[t].is_generic)}
    if trends is None:
        # No snapshot at all is "unknown"; a snapshot without the tag is "unused so far".
        unknown = dict.fromkeys(FEATURE_GROUPS["trends"], NAN)
        return unknown | {"generic_tag_count": float(len(generic))}
    topical = [t for t in tags if t not in generic]
    matched = [by_tag[t] for t in topical if t in by_tag]
    key = sound_key(inp.sound_title, inp.sound_author)
    sound = _find_sound(trends, key)
    return {
        "tag_known_fraction": len(matched) / len(topical) if topical else NAN,
        **_tag_stats(matched),
        "generic_tag_count": float(len(generic)),
        "sound_log_count": (
            math.log1p(sound.video_count) if sound else (0.0 if key is not None else NAN)
        ),
        "sound_log_median_views": _log1p(sound.median_views) if sound else NAN,
    }


def _creator_features(creator: CreatorContext | None) -> dict[str, float]:
    if creator is None:
        return dict.fromkeys(FEATURE_GROUPS["creator"], NAN)
    log_followers = _log1p(None if creator.followers is None else float(creator.followers))
    log_median = _log1p(creator.median_views)
    log_recent = _log1p(creator.recent_median_views)
    return {
        "log_followers": log_followers,
        "verified": NAN if creator.verified is None else float(creator.verified),
        "log_prior_videos": math.log1p(creator.prior_video_count),
        "log_median_views": log_median,
        "log_recent_median_views": log_recent,
        "posts_per_week": NAN if creator.posts_per_week is None else creator.posts_per_week,
        # Differences of logs: reach per follower and momentum; NaN propagates by design.
        "median_views_per_follower": log_median - log_followers,
        "recent_vs_median": log_recent - log_median,
    }


def build_features(inp: PrePostingInput) -> dict[str, float]:
    """Return the model's feature vector (NaN for unknown) keyed by FEATURE_NAMES."""
    features = (
        _caption_features(inp)
        | _format_timing_sound(inp)
        | _trend_features(inp)
        | _creator_features(inp.creator)
    )
    return {name: features[name] for name in FEATURE_NAMES}
