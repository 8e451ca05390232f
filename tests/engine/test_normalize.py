from __future__ import annotations

import pytest

from virtuna.engine.draft import parse_draft
from virtuna.engine.normalize import (
    clean_text,
    count_emoji,
    extract_hashtags,
    extract_mentions,
    guess_language,
    normalize_draft,
    parse_duration_hint,
)


def test_hashtags_are_unicode_lowercase_deduplicated_without_hash() -> None:
    text = "Quán ngon #café #Résumé #AnCungTikTok #ancungtiktok #món_ngon #2024 #xuhuong"
    assert extract_hashtags(text) == (
        "café",
        "résumé",
        "ancungtiktok",
        "món_ngon",
        "2024",
        "xuhuong",
    )


def test_hashtags_glued_to_words_count_as_on_tiktok_but_entities_do_not() -> None:
    assert extract_hashtags("Ngon ơi là ngon#sieungon") == ("sieungon",)
    assert extract_hashtags("&#39; quoted") == ()
    assert extract_hashtags("no tags here") == ()
    assert extract_hashtags("") == ()


def test_decomposed_vietnamese_marks_stay_in_the_tag() -> None:
    decomposed = "#mo\u0301nngon"  # "ó" written as o + combining acute
    assert extract_hashtags(decomposed) == ("mónngon",)


def test_thai_tags_keep_their_vowel_marks() -> None:
    assert extract_hashtags("#อาหารข้างทาง") == ("อาหารข้างทาง",)


def test_tags_agree_with_the_scrapers_tags_on_real_captions(
    real_records: list[tuple[str, dict[str, object]]],
) -> None:
    """On captions that keep their tags inline, our extractor agrees with TikTok's list."""
    agree = total = 0
    for name, record in real_records:
        text = record.get("text")
        if name != "vphuhan-vn-creators" or not isinstance(text, str) or "#" not in text:
            continue
        tags = record["hashtags"]
        assert isinstance(tags, list)
        theirs = {t["name"].lower() for t in tags if t.get("name")}
        ours = set(extract_hashtags(text))
        total += 1
        agree += ours <= theirs or theirs <= ours  # truncated captions lose trailing tags
    assert total > 5000
    assert agree / total > 0.93


def test_mentions_skip_emails_and_trailing_dots() -> None:
    assert extract_mentions("hi @User.Name. and mail a@b.com, @x_y @X_Y") == ("user.name", "x_y")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("30 sec", 30),
        ("60 seconds", 60),
        ("2 min", 120),
        ("1:05", 65),
        ("15 Seconds", 15),
        ("a 45s clip", 45),
        ("30s video of 90s music", 30),
        ("90 s of dancing", 90),
        ("chỉ 30 giây", 30),
        ("in 3 phút", 180),
        ("nothing here", None),
        ("", None),
        ("90s music", None),
        ("the 80s", None),
        ("back in the 90s", None),
        ("'90s kids", None),
        ("80s vibes only", None),
        ("1990s fashion", None),
        ("meet at 7:30 pm", None),
        ("10000 seconds", None),
    ],
)
def test_duration_hints(text: str, seconds: float | None) -> None:
    assert parse_duration_hint(text) == seconds


def test_bare_decade_number_without_context_is_a_duration() -> None:
    # The documented rule: only decade context words or "the"/apostrophe make it a decade.
    assert parse_duration_hint("90s") == 90


def test_clean_text_tidies_whitespace_and_controls() -> None:
    assert clean_text("  a \t b\u200b\r\n\n\n\nc\x00d  ") == "a b\n\nc d"


def test_emoji_are_counted() -> None:
    assert count_emoji("🔥 hot 🍜🍜 ❤️") == 4
    assert count_emoji("plain") == 0


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Quán gà sốt tokbokki nổi nhất", "vi"),
        ("this is how I cook", "en"),
        ("오늘의 요리", "ko"),
        ("今日の料理です", "ja"),
        ("今天吃什么", "zh"),
        ("อาหารอร่อย", "th"),
        ("привет мир", "ru"),
        ("crème brûlée à la maison", None),
        ("1234 !!!", None),
    ],
)
def test_language_guess(text: str, language: str | None) -> None:
    assert guess_language(text) == language


def test_normalized_draft_from_url_takes_handle_from_the_link() -> None:
    draft = parse_draft(
        {
            "input_mode": "tiktok_url",
            "tiktok_url": "https://www.tiktok.com/@Chef.An/video/7380030792988216592",
            "content_text": "Phở 60 seconds @friend #pho #Pho",
        }
    )
    normalized = normalize_draft(draft)
    assert normalized.creator_handle == "chef.an"
    assert normalized.hashtags == ("pho",)
    assert normalized.mentions == ("friend",)
    assert normalized.body == "Phở 60 seconds"
    assert normalized.duration_seconds == 60
    assert normalized.has_video
    assert normalized.video_ref == draft.tiktok_url


def test_explicit_duration_beats_the_text() -> None:
    draft = parse_draft(
        {"input_mode": "text", "content_text": "a 30s clip", "duration_hint_seconds": 12}
    )
    assert normalize_draft(draft).duration_seconds == 12
