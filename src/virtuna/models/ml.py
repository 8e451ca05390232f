"""The model registry: every trained bundle, its evaluation, and which one serves.

One row per bundle. ``status`` is ``champion`` (served; at most one, a partial unique index
says so), ``challenger`` (trained, evaluated, not promoted) or ``retired`` (served before).
Nothing is ever deleted: a failed promotion gate leaves the challenger's row and files in
place for inspection. The bundle is stored twice on purpose: ``path`` for the host that
trained it, ``bundle_zip`` (the bundle directory, zipped) so any serving host can load it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from virtuna.models.analyses import JSONType
from virtuna.models.base import Base, IdMixin, TimestampMixin, UTCDateTime

CHAMPION, CHALLENGER, RETIRED = "champion", "challenger", "retired"
MODEL_STATUSES = (CHAMPION, CHALLENGER, RETIRED)


class MLModel(IdMixin, TimestampMixin, Base):
    __tablename__ = "ml_models"
    __table_args__ = (
        Index(
            "uq_ml_models_champion",
            "status",
            unique=True,
            sqlite_where=text("status = 'champion'"),
            postgresql_where=text("status = 'champion'"),
        ),
    )

    version: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    path: Mapped[str | None] = mapped_column(Text, nullable=True)
    bundle_zip: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # Where the training rows came from: "db", "files" (fallback data) or "shipped".
    data_source: Mapped[str] = mapped_column(String(16), nullable=False)
    data_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    data_sha256: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    # The bundle's own training metrics plus, for a challenger, the promotion gate:
    # both models' metrics on the same window, the tolerance and the decision.
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
