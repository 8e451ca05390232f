"""Training table: point-in-time features, the target and per-row facts used for splits.

``build_dataset`` turns any sequence of :class:`VideoRecord` (files or the database) into
a feature matrix built by the engine's own draft parsing, ``ml_input`` and features, the target
``log1p(views)``, and the columns evaluation needs (source, sampling group, creator,
create time, age at scrape). Rows are kept in input order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import numpy.typing as npt

from virtuna.engine.draft import parse_draft
from virtuna.engine.features import FEATURE_NAMES, PrePostingInput, feature_matrix
from virtuna.engine.ml import ml_input
from virtuna.engine.normalize import NormalizedDraft, normalize_draft
from virtuna.engine.types import CreatorContext, TrendSnapshot
from virtuna.training.history import Lookup, creator_contexts, trend_snapshots
from virtuna.training.records import VideoRecord

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


def submitted_draft(rec: VideoRecord) -> NormalizedDraft:
    """The record's submitted draft as the engine reads it (validated, normalised)."""
    if not rec.submitted:
        raise ValueError(f"record {rec.id} carries no submitted draft")
    return normalize_draft(parse_draft(rec.submitted))


def lookup(draft: NormalizedDraft) -> Lookup:
    """What serving looks the draft's trends up by (``predictions.service.engine_inputs``)."""
    return Lookup(draft.hashtags, draft.sound_title, draft.sound_author)


def to_input(rec: VideoRecord, creator: CreatorContext | None, trends: TrendSnapshot | None,
             draft: NormalizedDraft | None = None) -> PrePostingInput:  # fmt: skip
    """The ML input the product builds when it scores this video: its submitted draft with
    the point-in-time creator context and trends. No outcome field exists on the result."""
    d = draft if draft is not None else submitted_draft(rec)
    return ml_input(d, creator=creator, trends=trends, now=rec.draft.created_at)


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
    """PrePostingInput per record with point-in-time creator history and trends, built the
    way serving builds it (see ``virtuna.engine.scraped``)."""
    drafts = [submitted_draft(r) for r in records]
    contexts = creator_contexts(records)
    snapshots = trend_snapshots(records, [lookup(d) for d in drafts])
    return [to_input(r, c, s, d)
            for r, c, s, d in zip(records, contexts, snapshots, drafts, strict=True)]  # fmt: skip


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
