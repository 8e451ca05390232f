"""Training table: point-in-time features, the target and per-row facts used for splits.

``build_dataset`` turns any sequence of :class:`VideoRecord` (files today, the database
later) into a feature matrix built by the engine's own ``build_features``, the target
``log1p(views)``, and the columns evaluation needs (source, sampling group, creator,
create time, age at scrape). Rows are kept in input order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import numpy.typing as npt

from virtuna.engine.features import FEATURE_NAMES, PrePostingInput, build_features
from virtuna.engine.types import CreatorContext, TrendSnapshot
from virtuna.training.history import creator_contexts, trend_snapshots
from virtuna.training.records import DraftFields, VideoRecord

MIN_AGE = timedelta(days=7)  # views of younger videos are still growing (README caveat)
FloatArray = npt.NDArray[np.float64]
StrArray = npt.NDArray[np.str_]
BoolArray = npt.NDArray[np.bool_]


def sampling_group(rec: VideoRecord) -> str:
    """How a row was collected; history features must be checked inside each group.

    thienphucle's For-You-feed scrape ran in May 2025 and its creators' timelines in June
    2025 (data README), so the scrape month tells the two apart.
    """
    if rec.source.startswith("thienphucle"):
        scraped = rec.outcome.scraped_at
        return f"{rec.source}:feed" if scraped and scraped.month == 5 else f"{rec.source}:timeline"
    return rec.source


def to_input(rec: VideoRecord, creator: CreatorContext | None,
             trends: TrendSnapshot | None) -> PrePostingInput:  # fmt: skip
    """The draft as the engine would see it: no outcome field exists on the result."""
    return draft_to_input(rec.draft, creator, trends)


def draft_to_input(d: DraftFields, creator: CreatorContext | None,
                   trends: TrendSnapshot | None) -> PrePostingInput:  # fmt: skip
    return PrePostingInput(
        caption=d.caption,
        hashtags=d.hashtags,
        posted_at=d.created_at,
        duration_seconds=d.duration_seconds,
        sound_title=d.sound_title,
        sound_author=d.sound_author,
        sound_original=d.sound_original,
        creator=creator,
        trends=trends,
    )


@dataclass(frozen=True)
class Dataset:
    X: FloatArray  # rows × FEATURE_NAMES
    y: FloatArray  # log1p(views)
    source: StrArray
    group: StrArray  # sampling group (see sampling_group)
    author: StrArray
    created: FloatArray  # unix seconds
    age_days: FloatArray  # NaN when unknown
    feature_names: tuple[str, ...] = FEATURE_NAMES

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def eligible(self) -> BoolArray:
        """Rows old enough at scrape for their views to be (nearly) final."""
        age = self.age_days
        return np.isnan(age) | (age >= MIN_AGE.total_seconds() / 86400.0)

    def subset(self, mask: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> Dataset:
        return Dataset(
            X=self.X[mask],
            y=self.y[mask],
            source=self.source[mask],
            group=self.group[mask],
            author=self.author[mask],
            created=self.created[mask],
            age_days=self.age_days[mask],
            feature_names=self.feature_names,
        )

    def column(self, name: str) -> FloatArray:
        return self.X[:, self.feature_names.index(name)]


def build_inputs(records: Sequence[VideoRecord]) -> list[PrePostingInput]:
    """PrePostingInput per record with point-in-time creator history and trends."""
    contexts = creator_contexts(records)
    snapshots = trend_snapshots(records)
    return [to_input(r, c, s) for r, c, s in zip(records, contexts, snapshots, strict=True)]


def feature_matrix(inputs: Sequence[PrePostingInput]) -> FloatArray:
    rows = [list(build_features(inp).values()) for inp in inputs]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FEATURE_NAMES))


def build_dataset(records: Sequence[VideoRecord]) -> Dataset:
    """The full training table (all rows; filter with ``eligible()`` before fitting)."""
    ages = [r.age_days() for r in records]
    return Dataset(
        X=feature_matrix(build_inputs(records)),
        y=np.log1p(np.asarray([r.outcome.views for r in records], dtype=np.float64)),
        source=np.asarray([r.source for r in records], dtype=np.str_),
        group=np.asarray([sampling_group(r) for r in records], dtype=np.str_),
        author=np.asarray([r.draft.author for r in records], dtype=np.str_),
        created=np.asarray([r.draft.created_at.timestamp() for r in records], dtype=np.float64),
        age_days=np.asarray([np.nan if a is None else a for a in ages], dtype=np.float64),
    )
