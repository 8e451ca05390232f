"""Engine test fixtures: real captions and sound titles from the shared data, value builders."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

DATA_SETS = ("vphuhan-vn-creators", "thienphucle-vn-feed", "datares-creators-2020")


def iter_records(data_dir: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for name in DATA_SETS:
        with gzip.open(data_dir / name / "videos.jsonl.gz", "rt", encoding="utf-8") as handle:
            for line in handle:
                yield name, json.loads(line)


@pytest.fixture(scope="session")
def real_records(tiktok_data_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    return list(iter_records(tiktok_data_dir))


@pytest.fixture(scope="session")
def real_captions(real_records: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [r["text"] for _, r in real_records if r.get("text")]


@pytest.fixture(scope="session")
def real_sound_titles(real_records: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Distinct ``musicMeta.musicName`` values, most used first."""
    counts: dict[str, int] = {}
    for _, record in real_records:
        title = (record.get("musicMeta") or {}).get("musicName")
        if title:
            counts[title] = counts.get(title, 0) + 1
    return sorted(counts, key=lambda t: -counts[t])
