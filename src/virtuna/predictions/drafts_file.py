"""Read drafts from a file: JSON Lines, JSON array or CSV of drafts, or TikTok scraper items.

Scraper items (the Apify clockworks format, e.g. the shared real data) become drafts from
their pre-posting fields only; outcome fields (playCount, diggCount, …) are never read.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from virtuna.engine.draft import Draft
from virtuna.kit.jsonfiles import iter_records

DRAFT_FIELDS = frozenset(Draft.model_fields)
_SCRAPER_KEYS = ("createTimeISO", "createTime", "authorMeta", "musicMeta", "videoMeta")


def is_scraper_item(record: dict[str, Any]) -> bool:
    return any(key in record for key in _SCRAPER_KEYS)


def draft_from_scraper_item(item: dict[str, Any]) -> dict[str, Any]:
    """The draft a creator could have submitted before posting this video."""
    author = item.get("authorMeta") or {}
    music = item.get("musicMeta") or {}
    video = item.get("videoMeta") or {}
    tags = [
        str(h.get("name", "")).strip() for h in item.get("hashtags") or [] if isinstance(h, dict)
    ]
    text = str(item.get("text") or "").strip()
    if not text and tags:  # sources without captions still carry their hashtags
        text = " ".join(f"#{t}" for t in tags if t)
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


def _from_record(record: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    ident = record.get("id")
    if is_scraper_item(record):
        return (None if ident is None else str(ident)), draft_from_scraper_item(record)
    draft = {k: v for k, v in record.items() if k != "id"}
    draft.setdefault("input_mode", "text")
    return (None if ident is None else str(ident)), draft


def _csv_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            yield number, {k: v for k, v in row.items() if k and v not in (None, "")}


def read_drafts(path: Path) -> Iterator[tuple[int, str | None, dict[str, Any] | str]]:
    """(position, id, draft mapping or the reason the record is unusable)."""
    records = _csv_rows(path) if path.suffix.lower() == ".csv" else iter_records(path)
    for position, record in records:
        if isinstance(record, Exception):
            yield position, None, f"invalid JSON: {record}"
        elif not isinstance(record, dict):
            yield position, None, f"expected an object, got {type(record).__name__}"
        else:
            ident, draft = _from_record(record)
            yield position, ident, draft
