from __future__ import annotations

import random

import pytest
from rapidfuzz import fuzz, process

from tests.engine.builders import snapshot, sound, tag
from virtuna.engine.draft import parse_draft
from virtuna.engine.normalize import NormalizedDraft, normalize_draft
from virtuna.engine.trends import (
    FUZZY_THRESHOLD,
    MIN_FUZZY_CHARS,
    TrendIndex,
    is_original_sound,
    match_sound,
    match_trends,
    normalize_title,
)
from virtuna.engine.types import TrendPhase


def draft(text: str = "", sound_title: str | None = None) -> NormalizedDraft:
    data: dict[str, object] = {"input_mode": "text", "content_text": text or "x"}
    if sound_title:
        data["sound_title"] = sound_title
    return normalize_draft(parse_draft(data))


def fuzzy_titles(titles: list[str]) -> list[str]:
    """Distinct normalised titles that are eligible for fuzzy matching."""
    seen: dict[str, None] = {}
    for title in titles:
        key = normalize_title(title)
        if len(key) >= MIN_FUZZY_CHARS and not is_original_sound(title):
            seen.setdefault(key)
    return list(seen)


def typo(text: str, rng: random.Random) -> str:
    i = rng.randrange(len(text) - 1)
    edits = [
        text[:i] + text[i + 1 :],
        text[:i] + text[i + 1] + text[i] + text[i + 2 :],
        text[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + text[i + 1 :],
    ]
    return rng.choice(edits)


def test_threshold_separates_distinct_real_titles(real_sound_titles: list[str]) -> None:
    """Evidence for FUZZY_THRESHOLD on real musicMeta.musicName values: among the 200 most
    used titles, almost none has a *different* title (in the top 5,000) above the threshold
    (the few that do are the same song re-uploaded: "what you know bout love" ~ "… about love")."""
    pool = fuzzy_titles(real_sound_titles)[:5000]
    top = pool[:200]
    matrix = process.cdist(top, pool, scorer=fuzz.ratio, workers=1)
    for row in range(len(top)):
        matrix[row, row] = 0  # pool starts with top, so the diagonal is the title itself
    collisions = int((matrix.max(axis=1) >= FUZZY_THRESHOLD).sum())
    assert collisions / len(top) <= 0.02
    looser = int((matrix.max(axis=1) >= 80).sum())
    assert looser > 3 * max(collisions, 1)  # a looser threshold would over-match noticeably


def test_threshold_still_catches_single_typos(real_sound_titles: list[str]) -> None:
    rng = random.Random(7)
    titles = fuzzy_titles(real_sound_titles)[:300]
    recalled = sum(fuzz.ratio(t, typo(t, rng)) >= FUZZY_THRESHOLD for t in titles)
    assert recalled / len(titles) >= 0.85


@pytest.mark.parametrize(
    ("trending", "written"),
    [("sunset", "sunday"), ("dance", "days"), ("Sunset Lover", "Sunday Lover")],
)
def test_look_alike_titles_do_not_match(trending: str, written: str) -> None:
    index = TrendIndex(snapshot((sound(trending),)))
    assert match_sound(index, written) is None
    assert match_trends(draft(f"my {written} video"), snapshot((sound(trending),))).matches == ()


def test_original_sound_titles_match_only_exactly(real_sound_titles: list[str]) -> None:
    generic = [t for t in real_sound_titles[:2000] if is_original_sound(t)]
    assert {"original sound", "nhạc nền"} <= {normalize_title(t) for t in generic}
    index = TrendIndex(snapshot((sound("original sound - Tri Phan"), sound("nhạc nền - X"))))
    assert match_sound(index, "original sound - Tri Phan") is not None
    assert match_sound(index, "original sound - Tri Phon") is None
    assert match_sound(index, "original sounds") is None
    assert match_sound(index, "nhạc nền - Y") is None
    assert match_sound(index, "âm thanh gốc") is None


def test_exact_then_fuzzy_sound_title() -> None:
    snap = snapshot((sound("Monkeys Spinning Monkeys"),))
    exact = match_trends(draft(sound_title="monkeys spinning MONKEYS!"), snap)
    assert [(m.kind, m.similarity) for m in exact.matches] == [("sound", 1.0)]
    fuzzy = match_trends(draft(sound_title="Monkeys Spinnig Monkeys"), snap)
    assert fuzzy.matches
    assert 0.9 <= fuzzy.matches[0].similarity < 1.0


def test_sound_named_in_the_caption_matches_on_word_boundaries() -> None:
    snap = snapshot((sound("Monkeys Spinning Monkeys"), sound("Cute")))
    found = match_trends(draft("using monkeys spinning monkeys today, so cute"), snap)
    assert [m.name for m in found.matches] == ["Monkeys Spinning Monkeys"]
    assert match_trends(draft("monkeysspinningmonkeys"), snap).matches == ()


def test_hashtags_match_without_hash_and_generic_tags_earn_little() -> None:
    snap = snapshot(hashtags=(tag("foodreview"), tag("fyp", generic=True), tag("viral")))
    specific = match_trends(draft("#FoodReview"), snap)
    generic = match_trends(draft("#fyp #viral"), snap)
    assert [m.name for m in specific.matches] == ["foodreview"]
    assert specific.score is not None
    assert generic.score is not None
    assert generic.score < specific.score / 4
    assert specific.hashtag_relevance == 1.0
    assert generic.hashtag_relevance is None  # no specific tags to judge


def test_phase_order_at_equal_velocity() -> None:
    scores: dict[TrendPhase, float] = {}
    for phase in TrendPhase:
        result = match_trends(
            draft(sound_title="Monkeys Spinning Monkeys"),
            snapshot((sound("Monkeys Spinning Monkeys", velocity=0.8, phase=phase),)),
        )
        assert result.score is not None
        scores[phase] = result.score
    assert (
        scores[TrendPhase.EMERGING]
        > scores[TrendPhase.RISING]
        > scores[TrendPhase.PEAKING]
        > scores[TrendPhase.SATURATED]
        > scores[TrendPhase.DECLINING]
    )


def test_velocity_is_bounded_and_total_clamped() -> None:
    huge = snapshot(
        (sound("Monkeys Spinning Monkeys", velocity=1e9, phase=TrendPhase.EMERGING),),
        tuple(tag(f"tag{i}", velocity=1e9, phase=TrendPhase.EMERGING) for i in range(20)),
    )
    text = "monkeys spinning monkeys " + " ".join(f"#tag{i}" for i in range(20))
    result = match_trends(draft(text, "Monkeys Spinning Monkeys"), huge)
    assert result.score == 100.0
    single = match_trends(draft("#tag1"), huge)
    assert single.score is not None
    assert single.score <= 15.0


def test_no_snapshot_or_empty_snapshot_is_unavailable() -> None:
    assert match_trends(draft("#fyp"), None).score is None
    empty = match_trends(draft("#fyp"), snapshot())
    assert empty.score is None
    assert "No trend data" in empty.context_text


def test_no_match_scores_zero_and_context_says_so() -> None:
    result = match_trends(draft("#cats"), snapshot(hashtags=(tag("dogs"),)))
    assert result.score == 0.0
    assert "No trending sound detected" in result.context_text
    assert "None of the draft's hashtags is trending" in result.context_text
    assert result.suggested_hashtags == ("dogs",)


def test_context_lists_matched_sound_and_tags() -> None:
    snap = snapshot((sound("Monkeys Spinning Monkeys"),), (tag("pho"),))
    text = match_trends(draft("#pho", "Monkeys Spinning Monkeys"), snap).context_text
    assert '"Monkeys Spinning Monkeys" (phase rising' in text
    assert "#pho (rising)" in text


def test_nameless_sounds_are_skipped() -> None:
    index = TrendIndex(snapshot((sound("   "), sound("Real Song Title"))))
    assert list(index.exact) == ["real song title"]
