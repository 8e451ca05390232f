"""Served scores joined with real outcomes: the input of blend fitting and score reports.

``virtuna analyze --file items.jsonl --out scored.jsonl`` scores real videos through the
whole product (database history, every stage, the blend) and stores each analysis; its
output lines carry the video ``id`` and the ``analysis_id``. Here each line is joined with
the stored analysis (per-signal scores, ``signals[name].score``) and with the video's
record in the scraper files (views, source, age at scrape, followers).
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.engine.aggregate import SIGNALS
from virtuna.models import Analysis
from virtuna.training.dataset import MIN_AGE, sampling_group
from virtuna.training.records import VideoRecord

FloatArray = npt.NDArray[np.float64]
StrArray = npt.NDArray[np.str_]
BoolArray = npt.NDArray[np.bool_]
CHUNK = 500


class ScoredFileError(ValueError):
    """A scored file that is not ``analyze --file --out`` output."""


@dataclass(frozen=True)
class ScoredRows:
    ids: list[str]
    final: FloatArray  # the product's score as served
    signals: dict[str, FloatArray]  # per signal, NaN where it was unavailable
    y: FloatArray  # log1p(views)
    log_followers: FloatArray  # NaN when unknown
    source: StrArray
    group: StrArray
    eligible: BoolArray  # >= 7 days old at scrape

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, mask: BoolArray) -> ScoredRows:
        return ScoredRows(
            ids=[i for i, keep in zip(self.ids, mask, strict=True) if keep],
            final=self.final[mask],
            signals={k: v[mask] for k, v in self.signals.items()},
            y=self.y[mask],
            log_followers=self.log_followers[mask],
            source=self.source[mask],
            group=self.group[mask],
            eligible=self.eligible[mask],
        )


def read_scored(paths: Sequence[Path]) -> list[tuple[str, uuid.UUID, float | None]]:
    """(video id, analysis id, served score) of every scored line (error lines skipped)."""
    out: list[tuple[str, uuid.UUID, float | None]] = []
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if "error" in row:
                    continue
                out.append((str(row["id"]), uuid.UUID(row["analysis_id"]), row.get("score")))
            except (ValueError, KeyError, TypeError) as exc:
                raise ScoredFileError(f"{path}: line {number}: not analyze --out output") from exc
    return out


@dataclass(frozen=True)
class StoredAnalysis:
    signals: dict[str, float | None]  # None: the signal was unavailable
    model_version: str | None


async def stored_analyses(session: AsyncSession, analysis_ids: Sequence[uuid.UUID]
                          ) -> dict[uuid.UUID, StoredAnalysis]:  # fmt: skip
    """Each stored analysis's per-signal scores and the model that served it."""
    found: dict[uuid.UUID, StoredAnalysis] = {}
    for start in range(0, len(analysis_ids), CHUNK):
        chunk = list(analysis_ids[start : start + CHUNK])
        rows = await session.execute(
            select(Analysis.id, Analysis.result, Analysis.model_version).where(
                Analysis.id.in_(chunk)
            )
        )
        for ident, result, version in rows.tuples():
            found[ident] = StoredAnalysis(_signals(result), version)
    return found


def _signals(result: Mapping[str, Any]) -> dict[str, float | None]:
    reports = result.get("signals") or {}
    return {
        name: (float(r["score"]) if r.get("available") and r.get("score") is not None else None)
        for name, r in reports.items()
        if isinstance(r, dict)
    }


def join(scored: Sequence[tuple[str, uuid.UUID, float | None]],
         stored: Mapping[uuid.UUID, StoredAnalysis],
         records: Mapping[str, VideoRecord]) -> ScoredRows:  # fmt: skip
    """Rows present in all three inputs, in scored-file order."""
    rows = [(vid, aid, score) for vid, aid, score in scored
            if vid in records and aid in stored and score is not None]  # fmt: skip
    recs = [records[vid] for vid, _, _ in rows]
    nan = math.nan

    def column(name: str) -> FloatArray:
        values = [stored[aid].signals.get(name) for _, aid, _ in rows]
        return np.asarray([nan if v is None else v for v in values], dtype=np.float64)

    ages = [r.age_days() for r in recs]
    fans = [r.draft.followers for r in recs]
    return ScoredRows(
        ids=[vid for vid, _, _ in rows],
        final=np.asarray([s for _, _, s in rows], dtype=np.float64),
        signals={name: column(name) for name in SIGNALS},
        y=np.log1p(np.asarray([r.outcome.views for r in recs], dtype=np.float64)),
        log_followers=np.log1p(np.asarray([nan if f is None else f for f in fans], dtype=float)),
        source=np.asarray([r.source for r in recs], dtype=np.str_),
        group=np.asarray([sampling_group(r) for r in recs], dtype=np.str_),
        eligible=np.asarray(
            [a is None or a >= MIN_AGE.total_seconds() / 86400.0 for a in ages], dtype=bool
        ),
    )
