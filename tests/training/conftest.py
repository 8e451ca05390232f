"""Real-data fixtures for the training tests: small creator-complete subsets, built once."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from virtuna.training.dataset import Dataset, build_dataset
from virtuna.training.records import VideoRecord, read_many
from virtuna.training.train import TrainConfig

# Small and quick but still real: early stopping still has room, trees stay shallow.
FAST = TrainConfig(num_leaves=7, max_rounds=120, early_stopping_rounds=15, min_child_samples=20)


def data_files(root: Path) -> list[Path]:
    return sorted(root.glob("*/videos.jsonl.gz"))


@pytest.fixture(scope="session")
def all_records(tiktok_data_dir: Path) -> list[VideoRecord]:
    return read_many(data_files(tiktok_data_dir))


@pytest.fixture(scope="session")
def sample_records(all_records: list[VideoRecord]) -> list[VideoRecord]:
    """Every video of 1 in 10 creators: each kept creator's history is complete."""
    return [r for r in all_records if zlib.crc32(r.draft.author.encode()) % 10 == 0]


@pytest.fixture(scope="session")
def sample_dataset(sample_records: list[VideoRecord]) -> Dataset:
    return build_dataset(sample_records)
