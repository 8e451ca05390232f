"""SQL on the model registry (``ml_models``); the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.engine.bundle import ModelBundle, bundle_zip
from virtuna.models.base import utcnow
from virtuna.models.ml import CHALLENGER, CHAMPION, RETIRED, MLModel


async def champion(session: AsyncSession) -> MLModel | None:
    model: MLModel | None = await session.scalar(select(MLModel).where(MLModel.status == CHAMPION))
    return model


async def get(session: AsyncSession, version: str) -> MLModel | None:
    model: MLModel | None = await session.scalar(select(MLModel).where(MLModel.version == version))
    return model


async def trained_on(session: AsyncSession, *, data_sha256: str, seed: int) -> MLModel | None:
    """A bundle already trained on exactly this data with this seed (re-runs are no-ops)."""
    rows = await session.scalars(
        select(MLModel).where(MLModel.data_sha256 == data_sha256, MLModel.data_source != "shipped")
    )
    return next((m for m in rows if m.metrics.get("seed") == seed), None)


async def all_models(session: AsyncSession) -> Sequence[MLModel]:
    rows = await session.scalars(select(MLModel).order_by(MLModel.created_at, MLModel.version))
    return rows.all()


async def add(
    session: AsyncSession,
    bundle: ModelBundle,
    *,
    path: Path,
    status: str,
    data_source: str,
    data_rows: int,
    metrics: dict[str, Any],
) -> MLModel:
    row = MLModel(
        version=bundle.version,
        status=status,
        path=str(path),
        bundle_zip=bundle_zip(path),
        data_source=data_source,
        data_rows=data_rows,
        data_sha256=bundle.meta.data_sha256,
        metrics=metrics,
        promoted_at=utcnow() if status == CHAMPION else None,
    )
    session.add(row)
    await session.flush()
    return row


async def promote(session: AsyncSession, challenger: MLModel, *, now: datetime | None = None
                  ) -> MLModel | None:  # fmt: skip
    """Make ``challenger`` the champion; the previous champion is retired, never deleted."""
    when = now or utcnow()
    previous = await champion(session)
    if previous is not None and previous.id != challenger.id:
        previous.status, previous.retired_at = RETIRED, when
        # Flush first: the partial unique index allows one champion at any instant.
        await session.flush()
    challenger.status, challenger.promoted_at = CHAMPION, when
    await session.flush()
    return previous


__all__ = ["CHALLENGER", "CHAMPION", "RETIRED", "add", "all_models", "champion", "promote"]
