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

# One mapping from scraper item to draft, shared with training (see the module's docstring).
from virtuna.engine.scraped import draft_from_scraper_item as draft_from_scraper_item
from virtuna.kit.jsonfiles import iter_records

DRAFT_FIELDS = frozenset(Draft.model_fields)
_SCRAPER_KEYS = ("createTimeISO", "createTime", "authorMeta", "musicMeta", "videoMeta")


def is_scraper_item(record: dict[str, Any]) -> bool:
    return any(key in record for key in _SCRAPER_KEYS)


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
