"""Turn a validated ``Draft`` into the cleaned values every later stage reads.

There is exactly one hashtag extractor and one mention extractor (the earlier system had two
hashtag regexes that disagreed, so trend matching never saw the tags rules saw). Tags are
stored lowercase, without "#", deduplicated in order — the same shape as scraped
``hashtags[].name`` values, so a draft's tags and the trend snapshot's tags compare directly.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from virtuna.engine.draft import Draft
from virtuna.engine.urls import TikTokUrl, parse_tiktok_url
from virtuna.engine.video import VideoSignals

# \w is Unicode-aware, so #café, #ancungtiktok and Vietnamese tags are whole words. A tag
# may follow a word directly ("ngon#sieungon" is a tag on TikTok), but not "&" (HTML entities).
# Combining marks (Thai vowels, Devanagari signs, stray diacritics) are not \w but are part of
# the word they sit on.
_HASHTAG = re.compile(r"(?<![&])#((?:\w|[\u0300-\u036f\u0e00-\u0e7f\u0900-\u097f])+)")
_MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9_](?:[A-Za-z0-9._]{0,22}[A-Za-z0-9_])?)")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b\u200e\u200f\u2028\u2029\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_WORD = re.compile(r"\w+(?:['’]\w+)*")
_EMOJI = re.compile(
    "[\U0001f300-\U0001f3fa\U0001f400-\U0001faff\U0001f000-\U0001f2ff"
    "\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff]"
)

# Duration hints. "1:05" is minutes:seconds unless it is a clock time ("7:30 pm", "7:30h").
_CLOCK = re.compile(
    r"(?<![\d:])(\d{1,2}):([0-5]\d)(?![\d:])(?!\s*(?:am|pm|a\.m|p\.m|h\b|giờ))", re.I
)
_SECONDS = re.compile(
    r"(?<![\w.])(\d{1,4}(?:\.\d+)?)\s*(s|secs?|seconds?|giây)(?![\w])", re.IGNORECASE
)
_MINUTES = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d+)?)\s*(mins?|minutes?|phút)(?![\w])", re.I)

# A decade is written like a duration ("90s"). The rule: a bare, unspaced "<N>s" with N a
# multiple of ten from 10 to 90 (or 1900…2090) is a decade when it is preceded by "the", "'",
# "’", "early/mid/late" or "in", or followed by a word that describes an era rather than a
# length ("90s music", "80s vibes", "90s kids"). "30s" alone, "30s video", "30 s" stay durations.
_DECADE_BEFORE = re.compile(r"(?:\b(?:the|early|mid|late|in|those|these)\s+|['’])\Z", re.I)
_DECADE_AFTER = re.compile(
    r"\A[\s-]*(?:music|vibes?|style|kids?|babies|baby|fashion|songs?|hits?|nostalgia|aesthetic"
    r"|era|throwback|outfits?|look|party|rock|pop|rap|hip|r&b|movies?|tv|cartoons?|shows?"
    r"|generation|dance|trends?|edition|playlist|anime|core|girl|boy|icons?|classics?)\b",
    re.I,
)

# Letters only Vietnamese uses: ă đ ơ ư and the stacked tone marks of Latin Extended
# Additional (ạ ả ấ … ỹ). Plain à/é/ê are shared with French, so they do not count.
_VI_MARKS = re.compile("[ăđơưĂĐƠƯ\u1ea0-\u1ef9]")
_SCRIPTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ko", re.compile("[\uac00-\ud7af\u1100-\u11ff]")),
    ("ja", re.compile("[\u3040-\u30ff]")),
    ("zh", re.compile("[\u4e00-\u9fff]")),
    ("th", re.compile("[\u0e00-\u0e7f]")),
    ("ru", re.compile("[\u0400-\u04ff]")),
    ("ar", re.compile("[\u0600-\u06ff]")),
    ("hi", re.compile("[\u0900-\u097f]")),
)
_ASCII_LETTERS = re.compile(r"[A-Za-z]")
_NON_ASCII_LATIN = re.compile("[\u00c0-\u024f]")


@dataclass(frozen=True, slots=True)
class NormalizedDraft:
    text: str  # cleaned caption, "" when absent
    body: str  # the caption without hashtags and mentions: what a viewer reads as prose
    words: tuple[str, ...]  # lowercase word tokens of ``body``
    hashtags: tuple[str, ...]
    mentions: tuple[str, ...]
    emoji_count: int
    # The measured video wins, then the explicit hint, then a duration written in the text.
    duration_seconds: float | None
    language: str | None
    input_mode: str
    content_type: str
    niche: str | None
    creator_handle: str | None
    creator_followers: int | None
    sound_title: str | None
    sound_author: str | None
    sound_original: bool | None
    creator_verified: bool | None
    scheduled_for: datetime | None
    video_ref: str | None  # the upload path or TikTok URL; the engine never downloads it
    tiktok: TikTokUrl | None
    video: VideoSignals | None = None  # measured signals of an uploaded video

    @property
    def has_video(self) -> bool:
        return self.input_mode != "text"


def clean_text(text: str) -> str:
    """NFC (so combining Vietnamese marks count as letters), no controls, tidy whitespace."""
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _dedupe(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def extract_hashtags(text: str) -> tuple[str, ...]:
    return _dedupe([m.lower() for m in _HASHTAG.findall(unicodedata.normalize("NFC", text))])


def extract_mentions(text: str) -> tuple[str, ...]:
    return _dedupe([m.lower().rstrip(".") for m in _MENTION.findall(text)])


def count_emoji(text: str) -> int:
    return len(_EMOJI.findall(text))


def parse_duration_hint(text: str) -> float | None:
    """The first duration written in the text, in seconds, or None. See the decade rule above."""
    candidates: list[tuple[int, float]] = []
    for match in _CLOCK.finditer(text):
        candidates.append((match.start(), int(match[1]) * 60 + int(match[2])))
    for match in _SECONDS.finditer(text):
        if not _is_decade(text, match):
            candidates.append((match.start(), float(match[1])))
    for match in _MINUTES.finditer(text):
        candidates.append((match.start(), float(match[1]) * 60))
    for _, seconds in sorted(candidates):
        if 0 < seconds <= 3600:
            return seconds
    return None


def _is_decade(text: str, match: re.Match[str]) -> bool:
    number, unit = match[1], match[2]
    if unit != "s" or match.end(1) != match.start(2):  # "90 s" or "90 sec" is a length
        return False
    if not number.isdigit() or not number.endswith("0"):
        return False
    value = int(number)
    if not (10 <= value <= 90 or 1900 <= value <= 2090):
        return False
    before, after = text[: match.start()], text[match.end() :]
    return bool(_DECADE_BEFORE.search(before) or _DECADE_AFTER.match(after))


def guess_language(text: str) -> str | None:
    """A cheap script-based guess; None when the text gives no letters to go on."""
    if _VI_MARKS.search(text):
        return "vi"
    for code, pattern in _SCRIPTS:
        if pattern.search(text):
            return code
    if _NON_ASCII_LATIN.search(text):
        return None  # accented Latin that is not Vietnamese: many candidates, don't guess
    if _ASCII_LETTERS.search(text):
        return "en"
    return None


def normalize_draft(draft: Draft) -> NormalizedDraft:
    text = clean_text(draft.content_text or "")
    hashtags = extract_hashtags(text)
    mentions = extract_mentions(text)
    body = clean_text(_MENTION.sub(" ", _HASHTAG.sub(" ", text)))
    tiktok = parse_tiktok_url(draft.tiktok_url) if draft.tiktok_url else None
    duration = draft.duration_hint_seconds or parse_duration_hint(text)
    if draft.video is not None:
        # Whole seconds, the unit the scraper reports (videoMeta.duration) and the model
        # was trained on (at least 1: a duration of 0 is how it marks photo posts); the
        # rules read the exact value from ``video``.
        duration = max(1.0, float(round(draft.video.duration_seconds)))
    handle = draft.creator_handle or (tiktok.handle if tiktok else None)
    return NormalizedDraft(
        text=text,
        body=body,
        words=tuple(w.lower() for w in _WORD.findall(body)),
        hashtags=hashtags,
        mentions=mentions,
        emoji_count=count_emoji(text),
        duration_seconds=duration,
        language=guess_language(body),
        input_mode=draft.input_mode.value,
        content_type=draft.content_type.value,
        niche=clean_text(draft.niche) or None if draft.niche else None,
        creator_handle=handle,
        creator_followers=draft.creator_followers,
        sound_title=clean_text(draft.sound_title) or None if draft.sound_title else None,
        sound_author=clean_text(draft.sound_author) or None if draft.sound_author else None,
        sound_original=draft.sound_original,
        creator_verified=draft.creator_verified,
        scheduled_for=draft.scheduled_for,
        video_ref=draft.video_path or draft.tiktok_url,
        tiktok=tiktok,
        video=draft.video,
    )
