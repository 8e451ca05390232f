"""Match a draft's hashtags and sound against a ``TrendSnapshot``; bounded contribution.

Fixes over the earlier engine (ENGINE_SPEC §8.6): tags on both sides have the same shape (no
"#"), so hashtag matching can succeed; sound matching is exact-first, then a word-boundary
fuzzy match at a threshold chosen on real sound titles (tests/engine/test_trends.py); generic
"original sound" titles match only themselves exactly; velocity is squashed; the total is
clamped; generic tags earn little.

Matching rules:
* ``sound_title`` given with the draft: exact normalised lookup, else ``fuzz.ratio`` ≥
  ``FUZZY_THRESHOLD`` against the snapshot's top ``MAX_SOUNDS`` titles (only for titles of at
  least ``MIN_FUZZY_CHARS`` characters — "cute"~"cutie" is 88).
* Sound names written in the caption: the full title compared with caption word n-grams of the
  same length (so "dance" can never match inside "days"), only for titles of ≥ 2 words, since a
  one-word title ("Cute", "Food") written in a caption is ordinary language, not a sound.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from rapidfuzz import fuzz, process

# One definition of a generic tag, shared with the model's features; re-exported here.
from virtuna.engine.features import GENERIC_HASHTAGS as GENERIC_HASHTAGS
from virtuna.engine.features import is_generic_hashtag as is_generic_hashtag
from virtuna.engine.normalize import NormalizedDraft
from virtuna.engine.types import HashtagTrend, SoundTrend, TrendPhase, TrendSnapshot

FUZZY_THRESHOLD = 90.0  # fuzz.ratio, 0–100; evidence in test_trends.py
MIN_FUZZY_CHARS = 8
MAX_SOUNDS = 200
MAX_MENTION_WORDS = 8
VELOCITY_SCALE = 1.0  # velocity 1.0 (usage doubled) gives tanh(1) = 0.76 of full momentum
SOUND_POINTS = 60.0
HASHTAG_POINTS = 15.0
HASHTAG_CAP = 40.0
GENERIC_FACTOR = 0.1
PHASE_WEIGHT: dict[TrendPhase | None, float] = {
    TrendPhase.EMERGING: 1.0,
    TrendPhase.RISING: 0.85,
    TrendPhase.PEAKING: 0.6,
    TrendPhase.SATURATED: 0.25,
    TrendPhase.DECLINING: 0.15,
    None: 0.4,
}
# Titles TikTok gives to a creator's own audio, in the languages seen in the shared data.
_ORIGINAL_SOUND = re.compile(
    r"\A(?:original sound|nhạc nền|âm thanh gốc|sonido original|som original|son original"
    r"|оригинальный звук|оригінальний звук|originalton|orijinal ses|الصوت الأصلي|suara asli"
    r"|suono originale|origineel geluid|dźwięk oryginalny|เสียงต้นฉบับ|オリジナル楽曲|原声)\b"
)
_NON_WORD = re.compile(r"[^\w\u0300-\u036f\u0e00-\u0e7f\u0900-\u097f]+")

MatchKind = Literal["sound", "hashtag"]


@dataclass(frozen=True, slots=True)
class TrendMatch:
    kind: MatchKind
    name: str
    phase: str | None
    velocity: float
    similarity: float  # 0–1; 1.0 for exact matches
    contribution: float  # points added to the 0–100 trend score


@dataclass(frozen=True, slots=True)
class TrendResult:
    score: float | None  # None: no snapshot data, so no trend signal
    matches: tuple[TrendMatch, ...]
    hashtag_relevance: float | None  # share of the draft's specific tags that are trending
    context_text: str
    suggested_hashtags: tuple[str, ...] = ()
    suggested_sound: str | None = None


def normalize_title(title: str) -> str:
    folded = unicodedata.normalize("NFKC", title).casefold()
    return " ".join(_NON_WORD.sub(" ", folded).split())


def is_original_sound(title: str) -> bool:
    return bool(_ORIGINAL_SOUND.match(normalize_title(title)))


def momentum(velocity: float) -> float:
    return math.tanh(max(velocity, 0.0) / VELOCITY_SCALE)


def _strength(phase: TrendPhase | None, velocity: float) -> float:
    return PHASE_WEIGHT.get(phase, PHASE_WEIGHT[None]) * (0.5 + 0.5 * momentum(velocity))


class TrendIndex:
    """Lookup structures for one snapshot, built once and reused for every draft."""

    def __init__(self, snapshot: TrendSnapshot) -> None:
        top = sorted(snapshot.sounds, key=lambda s: s.velocity, reverse=True)[:MAX_SOUNDS]
        self.snapshot = snapshot
        self.exact: dict[str, SoundTrend] = {}
        fuzzy: list[tuple[str, SoundTrend]] = []
        self.by_words: dict[int, list[tuple[str, SoundTrend]]] = {}
        for sound in top:
            title = normalize_title(sound.title)
            if not title or title in self.exact:
                continue  # nameless sounds are skipped; duplicates keep the faster one
            self.exact[title] = sound
            if sound.is_original or _ORIGINAL_SOUND.match(title) or len(title) < MIN_FUZZY_CHARS:
                continue
            fuzzy.append((title, sound))
            n_words = len(title.split())
            if 2 <= n_words <= MAX_MENTION_WORDS:
                self.by_words.setdefault(n_words, []).append((title, sound))
        self.fuzzy_titles = [t for t, _ in fuzzy]
        self.fuzzy_sounds = [s for _, s in fuzzy]
        self.hashtags: dict[str, HashtagTrend] = {
            unicodedata.normalize("NFC", h.tag.lower().lstrip("#")): h for h in snapshot.hashtags
        }
        growing_tags = [
            (tag, h)
            for tag, h in self.hashtags.items()
            if _is_growing(h.phase) and not h.is_generic and not is_generic_hashtag(tag)
        ]
        growing_tags.sort(key=lambda item: item[1].velocity, reverse=True)
        self.growing_hashtags = tuple(tag for tag, _ in growing_tags[:10])
        growing_sounds = [
            s
            for s in self.exact.values()
            if _is_growing(s.phase) and not s.is_original and not is_original_sound(s.title)
        ]
        fastest = max(growing_sounds, key=lambda s: s.velocity, default=None)
        self.growing_sound = fastest.title if fastest else None


_INDEX_CACHE: OrderedDict[int, TrendIndex] = OrderedDict()


def index_for(snapshot: TrendSnapshot) -> TrendIndex:
    """Small identity-keyed LRU: the service passes the same snapshot object to many drafts."""
    cached = _INDEX_CACHE.get(id(snapshot))
    if cached is not None and cached.snapshot is snapshot:
        _INDEX_CACHE.move_to_end(id(snapshot))
        return cached
    index = TrendIndex(snapshot)
    _INDEX_CACHE[id(snapshot)] = index
    while len(_INDEX_CACHE) > 4:
        _INDEX_CACHE.popitem(last=False)
    return index


def match_sound(index: TrendIndex, title: str) -> tuple[SoundTrend, float] | None:
    key = normalize_title(title)
    if not key:
        return None
    if key in index.exact:
        return index.exact[key], 1.0
    if _ORIGINAL_SOUND.match(key) or len(key) < MIN_FUZZY_CHARS or not index.fuzzy_titles:
        return None
    best = process.extractOne(
        key, index.fuzzy_titles, scorer=fuzz.ratio, score_cutoff=FUZZY_THRESHOLD
    )
    if best is None:
        return None
    return index.fuzzy_sounds[best[2]], best[1] / 100


def sounds_mentioned(index: TrendIndex, text_words: list[str]) -> list[tuple[SoundTrend, float]]:
    """Trending multi-word titles written in the caption, compared on whole-word n-grams of
    the normalised caption (``normalize_title(body).split()``)."""
    found: dict[str, tuple[SoundTrend, float]] = {}
    for n_words, entries in index.by_words.items():
        grams = [
            " ".join(text_words[i : i + n_words]) for i in range(len(text_words) - n_words + 1)
        ]
        if not grams:
            continue
        titles = [t for t, _ in entries]
        matrix = process.cdist(titles, grams, scorer=fuzz.ratio, score_cutoff=FUZZY_THRESHOLD)
        for row, (_, sound) in enumerate(entries):
            best = float(matrix[row].max())
            if best >= FUZZY_THRESHOLD and best / 100 > found.get(sound.sound_id, (sound, 0.0))[1]:
                found[sound.sound_id] = (sound, best / 100)
    return list(found.values())


def match_trends(draft: NormalizedDraft, snapshot: TrendSnapshot | None) -> TrendResult:
    if snapshot is None or not (snapshot.sounds or snapshot.hashtags):
        return TrendResult(None, (), None, "No trend data available for this draft's time.")
    index = index_for(snapshot)
    sound_matches = _sound_matches(index, draft)
    tag_matches = _hashtag_matches(index, draft.hashtags)
    best_sound = max(sound_matches, key=lambda m: m.contribution, default=None)
    tag_points = min(HASHTAG_CAP, sum(m.contribution for m in tag_matches))
    score = min(100.0, (best_sound.contribution if best_sound else 0.0) + tag_points)
    matches = tuple(sorted(sound_matches, key=lambda m: -m.contribution)) + tag_matches
    specific = [t for t in draft.hashtags if not is_generic_hashtag(t)]
    relevance = None
    if specific:
        relevance = round(sum(t in index.hashtags for t in specific) / len(specific), 3)
    result = TrendResult(
        score=round(score, 1),
        matches=matches,
        hashtag_relevance=relevance,
        context_text="",
        suggested_hashtags=_suggest_hashtags(index, draft.hashtags),
        suggested_sound=None if best_sound else index.growing_sound,
    )
    return _with_context(result, snapshot)


def _sound_matches(index: TrendIndex, draft: NormalizedDraft) -> list[TrendMatch]:
    candidates: list[tuple[SoundTrend, float]] = []
    if draft.sound_title:
        named = match_sound(index, draft.sound_title)
        if named:
            candidates.append(named)
    candidates += sounds_mentioned(index, normalize_title(draft.body).split())
    seen: set[str] = set()
    matches: list[TrendMatch] = []
    for sound, similarity in candidates:
        if sound.sound_id in seen:
            continue
        seen.add(sound.sound_id)
        points = SOUND_POINTS * similarity * _strength(sound.phase, sound.velocity)
        phase = sound.phase.value if sound.phase else None
        matches.append(
            TrendMatch("sound", sound.title, phase, sound.velocity, round(similarity, 3), points)
        )
    return matches


def _hashtag_matches(index: TrendIndex, tags: tuple[str, ...]) -> tuple[TrendMatch, ...]:
    matches: list[TrendMatch] = []
    for tag in tags:
        trend = index.hashtags.get(tag)
        if trend is None:
            continue
        points = HASHTAG_POINTS * _strength(trend.phase, trend.velocity)
        if trend.is_generic or is_generic_hashtag(tag):
            points *= GENERIC_FACTOR
        phase = trend.phase.value if trend.phase else None
        matches.append(TrendMatch("hashtag", tag, phase, trend.velocity, 1.0, round(points, 2)))
    return tuple(matches)


def _is_growing(phase: TrendPhase | None) -> bool:
    return phase in (TrendPhase.EMERGING, TrendPhase.RISING)


def _suggest_hashtags(index: TrendIndex, used: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(tag for tag in index.growing_hashtags if tag not in used)[:3]


def _with_context(result: TrendResult, snapshot: TrendSnapshot) -> TrendResult:
    lines = [
        f"Trend snapshot as of {snapshot.as_of.date().isoformat()}: {snapshot.total_videos} "
        f"videos over {snapshot.window_days} days."
    ]
    sounds = [m for m in result.matches if m.kind == "sound"]
    tags = [m for m in result.matches if m.kind == "hashtag"]
    for m in sounds:
        lines.append(
            f'Uses trending sound "{m.name}" (phase {m.phase or "unknown"}, velocity '
            f"{m.velocity:+.2f}, similarity {m.similarity:.2f})."
        )
    if not sounds:
        lines.append("No trending sound detected.")
    if tags:
        listed = ", ".join(f"#{m.name} ({m.phase or 'unknown'})" for m in tags)
        lines.append(f"Trending hashtags used: {listed}.")
    else:
        lines.append("None of the draft's hashtags is trending.")
    if result.hashtag_relevance is not None:
        lines.append(
            f"Share of specific hashtags that are trending: {result.hashtag_relevance:.0%}."
        )
    return TrendResult(
        result.score,
        result.matches,
        result.hashtag_relevance,
        "\n".join(lines),
        result.suggested_hashtags,
        result.suggested_sound,
    )
