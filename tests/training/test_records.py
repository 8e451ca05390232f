from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from virtuna.training.records import (
    DatasetFormatError,
    files_sha256,
    read_many,
    read_records,
)

ITEM: dict[str, Any] = {
    "id": "7380030792988216592",
    "text": "Quán gà #AnCungTikTok #foodreview",
    "createTime": 1718297325,
    "authorMeta": {"name": "Chensach.Hanoi", "fans": 32900, "verified": False},
    "musicMeta": {"musicName": "nhạc nền", "musicAuthor": "Chén Sạch", "musicOriginal": True},
    "videoMeta": {"duration": 56},
    "hashtags": [{"name": "AnCungTikTok"}, {"name": "foodreview"}, {"name": "ancungtiktok"}],
    "playCount": 335400,
    "scrapedAt": "2025-03-05T13:00:56.000Z",
}


def _write(path: Path, text: str, *, gz: bool = False) -> Path:
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "text", "gz"),
    [
        ("a.jsonl", json.dumps(ITEM) + "\n\n", False),
        ("a.json", json.dumps([ITEM], indent=2), False),
        ("a.jsonl.gz", json.dumps(ITEM) + "\n", True),
        ("a.json.gz", json.dumps([ITEM]), True),
    ],
)
def test_reads_every_supported_format(tmp_path: Path, name: str, text: str, gz: bool) -> None:
    (rec,) = read_records(_write(tmp_path / name, text, gz=gz), source="s")
    assert rec.id == "7380030792988216592"
    assert rec.draft.hashtags == ("ancungtiktok", "foodreview")  # lowercased, deduplicated
    assert rec.draft.author == "chensach.hanoi"
    assert rec.draft.duration_seconds == 56.0
    assert rec.outcome.views == 335400
    assert rec.age_days() == pytest.approx(264.8, abs=0.1)


def test_bad_line_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.jsonl", json.dumps(ITEM) + "\n{not json\n")
    with pytest.raises(DatasetFormatError, match=r"bad\.jsonl: line 2"):
        read_records(path)


def test_item_without_views_is_rejected_with_its_line(tmp_path: Path) -> None:
    item = {k: v for k, v in ITEM.items() if k != "playCount"}
    path = _write(tmp_path / "x.jsonl", json.dumps(ITEM) + "\n" + json.dumps(item) + "\n")
    with pytest.raises(DatasetFormatError, match="line 2: not a scraper item"):
        read_records(path)


def test_read_many_dedupes_ids_and_hash_changes_with_content(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.jsonl", json.dumps(ITEM) + "\n")
    b = _write(tmp_path / "b.jsonl", json.dumps(ITEM) + "\n")
    assert len(read_many([a, b])) == 1
    before = files_sha256([a, b])
    _write(b, json.dumps(ITEM | {"playCount": 1}) + "\n")
    assert files_sha256([a, b]) != before


def test_datares_gets_documented_scrape_date(all_records: list[Any]) -> None:
    datares = [r for r in all_records if r.source == "datares-creators-2020"]
    assert datares
    assert all(r.outcome.scraped_at is None for r in datares)
    assert {r.scraped_at().date().isoformat() for r in datares} == {"2020-12-11"}


@pytest.mark.parametrize("created", [1718297325, "1718297325", " 1718297325.0 "])
def test_create_time_as_epoch_number_or_string(tmp_path: Path, created: object) -> None:
    item = {k: v for k, v in ITEM.items() if k != "createTimeISO"} | {"createTime": created}
    (rec,) = read_records(_write(tmp_path / "e.jsonl", json.dumps(item) + "\n"), source="s")
    assert rec.draft.created_at.isoformat() == "2024-06-13T16:48:45+00:00"
