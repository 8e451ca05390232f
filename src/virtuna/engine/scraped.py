"""A scraped video as the draft its creator could have submitted before posting it.

One mapping, used by everything that scores or learns from scraped items: ``virtuna
analyze --file`` (``predictions.drafts_file``), the calibration backtest, and model
training (``training.dataset``), which pushes every training video through this draft and
the engine's own ``parse_draft`` → ``normalize_draft`` → ``ml_input``. So the model is fitted
on exactly the inputs the product feeds it when it scores a real video (an earlier version
fitted on the raw item fields while serving read the normalised draft: captions
synthesised from hashtags, tags missing from the caption, inferred original-sound flags —
up to 99.9 % of one source's rows had a feature that differed).

Only pre-posting fields are read; outcome fields (playCount, diggCount, …) never are.
"""

from __future__ import annotations

from typing import Any


def _tags(item: dict[str, Any]) -> list[str]:
    raw = item.get("hashtags") or []
    return [str(h.get("name", "")).strip().lstrip("#") for h in raw if isinstance(h, dict)]


def _caption(item: dict[str, Any], tags: list[str]) -> str:
    """The caption as posted: scrapers sometimes strip the hashtags out of ``text`` while
    listing them in ``hashtags``; a draft carries its hashtags in its caption."""
    text = str(item.get("text") or "").strip()
    seen = {word.lstrip("#").lower() for word in text.split() if word.startswith("#")}
    missing = []
    for tag in tags:  # first spelling wins: "#AreYouSmart" and "#areyousmart" are one tag
        if tag and tag.lower() not in seen:
            seen.add(tag.lower())
            missing.append(f"#{tag}")
    return " ".join([text, *missing]).strip() if missing else text


def draft_from_scraper_item(item: dict[str, Any]) -> dict[str, Any]:
    """The draft a creator could have submitted before posting this video."""
    author = item.get("authorMeta") or {}
    music = item.get("musicMeta") or {}
    video = item.get("videoMeta") or {}
    text = _caption(item, _tags(item))
    draft: dict[str, Any] = {"input_mode": "text", "content_text": text, "content_type": "video"}
    url = item.get("webVideoUrl")
    if not text and isinstance(url, str) and url:
        # A real video without a caption is still a video: score it as the URL it is, with
        # the metadata the item already carries (nothing is fetched for file input).
        draft.update(input_mode="tiktok_url", tiktok_url=url)
    when = item.get("createTimeISO") or item.get("createTime")
    if when is not None:
        draft["scheduled_for"] = when
    if author.get("name"):
        draft["creator_handle"] = str(author["name"])
    if isinstance(author.get("fans"), int) and author["fans"] >= 0:
        draft["creator_followers"] = author["fans"]
    if isinstance(author.get("verified"), bool):
        draft["creator_verified"] = author["verified"]
    if music.get("musicName"):
        draft["sound_title"] = str(music["musicName"])[:300]
    if music.get("musicAuthor"):
        draft["sound_author"] = str(music["musicAuthor"])[:300]
    if isinstance(music.get("musicOriginal"), bool):
        draft["sound_original"] = music["musicOriginal"]
    if isinstance(video.get("duration"), int | float) and video["duration"] > 0:
        draft["duration_hint_seconds"] = min(float(video["duration"]), 3600.0)
    return draft
