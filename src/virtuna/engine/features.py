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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from virtuna.engine.types import CreatorContext, HashtagTrend, SoundTrend, TrendSnapshot

NAN = float("nan")
FloatArray = npt.NDArray[np.float64]


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
# The one list (trend matching, trend snapshots and the model all read it): the union of the
# engine's and the training's earlier lists, plus every tag starting with fyp / foryou
# (fypシ, fyppppp, foryoupage…), which the data shows in hundreds of spellings.
GENERIC_HASHTAGS: frozenset[str] = frozenset(
    {
        "fyp", "fy", "foryou", "foryoupage", "foryourpage", "fypage", "fypシ", "parati",
        "viral", "viralvideo", "tiktokviral", "trending", "trend", "trendingtiktok",
        "trend2024", "trending2024", "xyzbca", "capcut", "duet", "tiktok", "xuhuong",
        "xuhướng", "xuhuongtiktok", "xh", "xhtiktok", "explore", "explorepage",
    }
)  # fmt: skip
_GENERIC_PREFIXES = ("fyp", "foryou")

# Calls to action and story hooks, English and Vietnamese (the languages of the data). They
# run on the lowercased caption: matching case-insensitively costs 3x as much.
_CTA_RE = re.compile(
    r"\b(follow|like|share|comment|subscribe|link in bio|tag (a|your)|save this|"
    r"theo dõi|thả tim|chia sẻ|bình luận|cmt|follow mình|xem thêm|lưu lại|tag bạn|"
    r"ủng hộ)\b"
)
_HOOK_RE = re.compile(
    r"\b(pov|storytime|story time|wait for it|part \d+|phần \d+|tập \d+|did you know|"
    r"how to|when you|bạn có biết|ai đã từng|khi bạn|cách|bí quyết|sự thật|"
    r"đừng bỏ lỡ|review)\b"
)
_MENTION_RE = re.compile(r"@[\w.]+")
_HASHTAG_RE = re.compile(r"#[^\s#]+")
_EMOJI_RE = re.compile("[\U0001f300-\U0001faff\U00002600-\U000027bf\U0001f1e6-\U0001f1ff]")
# Letters only Vietnamese uses among Latin scripts (đ, ơ, ư, ă and the stacked tone marks),
# matched on the lowercased text.
_VI_RE = re.compile(r"[đơưăạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]")
_OTHER_SCRIPT_RE = re.compile(r"[\u0400-\u04ff\u0590-\u06ff\u0900-\u0dff\u0e00-\u0e7f"
                              r"\u1100-\u11ff\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")  # fmt: skip
# Every byte that is not an ASCII letter: deleting them leaves the letters to count.
_NOT_ASCII_LETTER = bytes(b for b in range(256) if not (65 <= b <= 90 or 97 <= b <= 122))
_ORIGINAL_SOUND_RE = re.compile(
    r"^(original sound|nhạc nền|âm thanh gốc|son original|som original)"
)

LANG_NONE, LANG_VI, LANG_LATIN, LANG_OTHER = 0.0, 1.0, 2.0, 3.0
CAPTION_CACHE_SIZE = 16_384  # distinct captions remembered (bulk files repeat them a lot)


def is_generic_hashtag(tag: str) -> bool:
    """A catch-all tag (lowercase, without '#'): fyp, viral, xuhuong, fypシ, foryoupage…"""
    return tag in GENERIC_HASHTAGS or tag.startswith(_GENERIC_PREFIXES)


def _ascii_letters(text: str) -> int:
    return len(text.encode("ascii", "ignore").translate(None, _NOT_ASCII_LETTER))


def _language(text: str, lower: str) -> float:
    if not text.strip():
        return LANG_NONE
    if text.isascii():
        return LANG_LATIN if _ascii_letters(text) else LANG_NONE
    if _VI_RE.search(lower):
        return LANG_VI
    other = len(_OTHER_SCRIPT_RE.findall(text))
    latin = _ascii_letters(text)
    if other > latin:
        return LANG_OTHER
    return LANG_LATIN if latin else LANG_NONE


def caption_language(text: str) -> float:
    """Cheap script-based language id: none / Vietnamese / ASCII Latin / other script.

    Good enough to tell the data's three populations apart at the price of a regex; a real
    language-id model would add a dependency for a feature the ablation shows is weak.
    """
    return _language(text, text.lower())


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
    if value is None or value != value:  # None or NaN
        return NAN
    return math.log1p(max(value, 0.0))


@lru_cache(maxsize=CAPTION_CACHE_SIZE)
def _text_values(text: str) -> tuple[frozenset[str], tuple[float, ...]]:
    """Hashtags written in the caption, and the caption features except hashtag_count."""
    if not text:
        return frozenset(), (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, LANG_NONE)
    lower = text.lower()
    plain = text.isascii()
    tags = frozenset(t[1:].lower() for t in _HASHTAG_RE.findall(text)) if "#" in text else None
    stripped = text.strip()
    return tags or frozenset(), (
        float(len(stripped)),
        float(len(text.split())),
        float(len(_MENTION_RE.findall(text))) if "@" in text else 0.0,
        1.0 if "?" in text else 0.0,
        float(len(_CTA_RE.findall(lower))),
        float(len(_HOOK_RE.findall(lower))),
        0.0 if plain else float(len(_EMOJI_RE.findall(text))),
        1.0 if stripped else 0.0,
        _language(text, lower),
    )


def caption_cache_clear() -> None:
    """Forget cached caption features (benchmarks measure cold runs)."""
    _text_values.cache_clear()


def _caption_values(caption: str, hashtags: tuple[str, ...]) -> list[float]:
    tags, (chars, words, mentions, question, cta, hook, emoji, has, lang) = _text_values(caption)
    # Hashtags may live in the caption or only in the structured list; count the union.
    tag_count = len(tags.union(hashtags)) if tags else len(set(hashtags))
    return [chars, words, float(tag_count), mentions, question, cta, hook, emoji, has, lang]


def _format_timing_sound(inp: PrePostingInput) -> list[float]:
    duration = inp.duration_seconds
    # UTC on purpose: a creator's time zone is unknown at serving time for most drafts,
    # and a guessed local hour would differ between training and serving.
    posted = inp.posted_at
    has_sound = bool((inp.sound_title or "").strip() or (inp.sound_author or "").strip())
    return [
        NAN if duration is None else float(duration),
        1.0 if duration is None else 0.0,
        # Duration 0 is how the scraper reports photo/slideshow posts.
        NAN if duration is None else (1.0 if duration <= 0 else 0.0),
        float(posted.hour),
        float(posted.weekday()),
        1.0 if has_sound else 0.0,
        NAN if inp.sound_original is None else float(inp.sound_original),
    ]


def _tag_stats(matched: list[HashtagTrend]) -> list[float]:
    if not matched:
        return [NAN, NAN, NAN, NAN]
    counts = [math.log1p(t.video_count) for t in matched]
    medians = [math.log1p(t.median_views) for t in matched if t.median_views is not None]
    return [
        max(counts),
        math.fsum(counts) / len(counts),
        max(medians) if medians else NAN,
        math.fsum(medians) / len(medians) if medians else NAN,
    ]


def _find_sound(trends: TrendSnapshot, key: str | None) -> SoundTrend | None:
    if key is None or not trends.sounds:
        return None
    # Point-in-time entries are keyed by sound_key; computed trends (up to a few hundred
    # top sounds) by music id, so only those pay for re-deriving the key.
    for sound in trends.sounds:
        if sound.sound_id == key:
            return sound
    for sound in trends.sounds:
        if sound_key(sound.title, sound.author) == key:
            return sound
    return None


def _trend_values(inp: PrePostingInput) -> list[float]:
    tags = [t for t in inp.hashtags if t]
    trends = inp.trends
    by_tag = {h.tag: h for h in trends.hashtags} if trends is not None and tags else {}
    generic = {
        t
        for t in tags
        if t in GENERIC_HASHTAGS  # is_generic_hashtag, inlined: this runs per row in bulk
        or t.startswith(_GENERIC_PREFIXES)
        or (t in by_tag and by_tag[t].is_generic)
    }
    if trends is None:
        # No snapshot at all is "unknown"; a snapshot without the tag is "unused so far".
        return [NAN, NAN, NAN, NAN, NAN, float(len(generic)), NAN, NAN]
    topical = [t for t in tags if t not in generic]
    matched = [by_tag[t] for t in topical if t in by_tag]
    key = sound_key(inp.sound_title, inp.sound_author)
    sound = _find_sound(trends, key)
    return [
        len(matched) / len(topical) if topical else NAN,
        *_tag_stats(matched),
        float(len(generic)),
        math.log1p(sound.video_count) if sound else (0.0 if key is not None else NAN),
        _log1p(sound.median_views) if sound else NAN,
    ]


_NO_CREATOR = [NAN] * len(FEATURE_GROUPS["creator"])


def _creator_values(creator: CreatorContext | None) -> list[float]:
    if creator is None:
        return _NO_CREATOR
    log_followers = _log1p(None if creator.followers is None else float(creator.followers))
    log_median = _log1p(creator.median_views)
    log_recent = _log1p(creator.recent_median_views)
    return [
        log_followers,
        NAN if creator.verified is None else float(creator.verified),
        math.log1p(creator.prior_video_count),
        log_median,
        log_recent,
        NAN if creator.posts_per_week is None else creator.posts_per_week,
        # Differences of logs: reach per follower and momentum; NaN propagates by design.
        log_median - log_followers,
        log_recent - log_median,
    ]


def feature_row(inp: PrePostingInput) -> list[float]:
    """The model's feature vector in ``FEATURE_NAMES`` order (NaN for unknown)."""
    row = _caption_values(inp.caption or "", inp.hashtags)
    row += _format_timing_sound(inp)
    row += _trend_values(inp)
    row += _creator_values(inp.creator)
    return row


def feature_matrix(inputs: Sequence[PrePostingInput]) -> FloatArray:
    """Rows × ``FEATURE_NAMES``: what training fits on and bulk scoring predicts from."""
    rows = [feature_row(inp) for inp in inputs]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FEATURE_NAMES))


def build_features(inp: PrePostingInput) -> dict[str, float]:
    """Return the model's feature vector (NaN for unknown) keyed by FEATURE_NAMES."""
    return dict(zip(FEATURE_NAMES, feature_row(inp), strict=True))
