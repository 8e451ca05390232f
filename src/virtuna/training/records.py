"""Scraper items → typed records, with the outcome kept apart from what exists before posting.

Reads the Apify ``clockworks/tiktok-scraper`` item format (the shape of the shared data):
a JSON array, JSON Lines, or a gzip of either. ``VideoRecord.draft`` holds only pre-posting
fields; ``VideoRecord.outcome`` holds what the model learns to predict. Any iterable of
records works downstream, so a database can feed training the same way files do.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from virtuna.engine.scraped import draft_from_scraper_item

# Scrape time for sources that did not record one. datares: "collected with the unofficial
# TikTokApi in late 2020; the files were committed on 2020-12-11". vphuhan: the earliest of
# its four documented collection dates, the conservative choice for an age filter.
FALLBACK_SCRAPED_AT: dict[str, datetime] = {
    "datares-creators-2020": datetime(2020, 12, 11, tzinfo=UTC),
    "vphuhan-vn-creators": datetime(2025, 2, 12, tzinfo=UTC),
}


class DatasetFormatError(ValueError):
    """A file that is not scraper items; the message names the file and the line."""


@dataclass(frozen=True, slots=True)
class DraftFields:
    """What the creator knew before posting (plus their public profile at scrape)."""

    caption: str
    hashtags: tuple[str, ...]
    created_at: datetime
    duration_seconds: float | None
    sound_title: str | None
    sound_author: str | None
    sound_original: bool | None
    author: str
    followers: int | None  # at scrape time (README caveat): a mild leak for old rows
    verified: bool | None


@dataclass(frozen=True, slots=True)
class Outcome:
    views: int
    scraped_at: datetime | None  # None: the source did not record it


@dataclass(frozen=True, slots=True)
class VideoRecord:
    id: str
    source: str
    draft: DraftFields  # the item's own pre-posting fields: what history and trends count
    outcome: Outcome
    # The draft the product scores for this video (``engine.scraped``): what the model
    # is fitted on, so training and serving read the same input.
    submitted: dict[str, Any] = field(default_factory=dict)

    def scraped_at(self) -> datetime | None:
        """Scrape time, falling back to the documented collection date of the source."""
        return self.outcome.scraped_at or FALLBACK_SCRAPED_AT.get(self.source)

    def age_days(self) -> float | None:
        scraped = self.scraped_at()
        if scraped is None:
            return None
        return (scraped - self.draft.created_at).total_seconds() / 86400.0


_EPOCH = re.compile(r"\d{9,11}(?:\.\d+)?")


def _parse_time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), tz=UTC)
    text = str(value).strip()
    if _EPOCH.fullmatch(text):  # some exports write createTime as a string of seconds
        return datetime.fromtimestamp(float(text), tz=UTC)
    text = text.replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def normalize_hashtags(raw: Any) -> tuple[str, ...]:
    """Lowercase, without '#', in order, deduplicated (the PrePostingInput convention)."""
    seen: dict[str, None] = {}
    for item in raw or []:
        name = item.get("name") if isinstance(item, dict) else item
        tag = str(name or "").strip().lstrip("#").lower()
        if tag:
            seen.setdefault(tag, None)
    return tuple(seen)


def _opt_float(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)


def _opt_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


# Fields a scraper item may carry that are known only after posting.
OUTCOME_FIELDS: frozenset[str] = frozenset(
    {"playCount", "diggCount", "shareCount", "commentCount", "collectCount", "scrapedAt"}
)


def draft_from_item(item: dict[str, Any]) -> DraftFields:
    """The pre-posting part of a scraper item; reads no outcome field by construction."""
    author = item.get("authorMeta") or {}
    music = item.get("musicMeta") or {}
    created = _parse_time(item.get("createTime")) or _parse_time(item.get("createTimeISO"))
    if created is None:
        raise ValueError("item has neither createTime nor createTimeISO")
    fans = author.get("fans")
    return DraftFields(
        caption=str(item.get("text") or ""),
        hashtags=normalize_hashtags(item.get("hashtags")),
        created_at=created,
        duration_seconds=_opt_float((item.get("videoMeta") or {}).get("duration")),
        sound_title=music.get("musicName"),
        sound_author=music.get("musicAuthor"),
        sound_original=_opt_bool(music.get("musicOriginal")),
        author=str(author.get("name") or "").lower(),
        followers=None if fans is None else int(fans),
        verified=_opt_bool(author.get("verified")),
    )


def record_from_item(item: dict[str, Any], source: str) -> VideoRecord:
    """One scraper item → record. Raises KeyError/ValueError/TypeError on a malformed item."""
    outcome = Outcome(views=int(item["playCount"]), scraped_at=_parse_time(item.get("scrapedAt")))
    return VideoRecord(id=str(item["id"]), source=source, draft=draft_from_item(item),
                       outcome=outcome, submitted=draft_from_scraper_item(item))  # fmt: skip


def _read_lines(path: Path) -> list[str]:
    with path.open("rb") as probe:
        gz = probe.read(2) == b"\x1f\x8b"
    try:
        if gz:
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                return fh.readlines()
        with path.open(encoding="utf-8") as fh:
            return fh.readlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetFormatError(f"{path}: unreadable ({exc})") from exc


def iter_items(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, item) pairs from a JSON array or JSON Lines file, gzipped or not."""
    lines = _read_lines(path)
    if "".join(lines[:50]).lstrip().startswith("["):
        try:
            items = json.loads("".join(lines))
        except json.JSONDecodeError as exc:
            raise DatasetFormatError(f"{path}: line {exc.lineno}: not valid JSON") from exc
        # Array items have no line of their own: report their 1-based position instead.
        yield from enumerate(items, start=1)
        return
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetFormatError(f"{path}: line {number}: not valid JSON") from exc


def source_name(path: Path) -> str:
    """The shared data keeps one file per source folder; the folder names the source."""
    return path.parent.name if path.stem.startswith("videos") else path.stem.split(".")[0]


def read_records(path: Path, source: str | None = None) -> list[VideoRecord]:
    """All items of ``path`` as records; a malformed item raises naming file and line."""
    src = source or source_name(path)
    records: list[VideoRecord] = []
    for number, item in iter_items(path):
        try:
            records.append(record_from_item(item, src))
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise DatasetFormatError(f"{path}: line {number}: not a scraper item ({exc})") from exc
    return records


def read_many(paths: Iterable[Path]) -> list[VideoRecord]:
    """Records of several files, de-duplicated by video id (first file wins)."""
    seen: set[str] = set()
    out: list[VideoRecord] = []
    for path in paths:
        for rec in read_records(path):
            if rec.id not in seen:
                seen.add(rec.id)
                out.append(rec)
    return out


def files_sha256(paths: Iterable[Path]) -> str:
    """Identity of the training data: sha256 over the files' bytes, in sorted path order."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def records_sha256(records: Iterable[VideoRecord]) -> str:
    """Identity of records not read from files (e.g. a database): ids and outcomes."""
    digest = hashlib.sha256()
    for rec in sorted(records, key=lambda r: (r.source, r.id)):
        digest.update(f"{rec.source}|{rec.id}|{rec.outcome.views}\n".encode())
    return digest.hexdigest()
