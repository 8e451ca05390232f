"""Apply the active calibrator to a served prediction.

Calibrators are fitted and activated by the outcomes domain (``calibration-audit`` job) and
live only as rows of ``calibrators``. Every serving process reads the active rows through a
small cache that expires after ``CACHE_TTL_SECONDS``, so an activation reaches every process
within that time without any cross-process signal (the earlier system kept its parameters
in process memory, where a refit never reached the serving instances).

A calibrator applies to a prediction only when engine version, model bundle version and
input mode all match the rows it was fitted on; otherwise the prediction is served as the
model made it, with ``is_calibrated: false``. Only the tier probabilities are calibrated:
they are the model's probability statement; the 0-100 score is a blended rank, not a
probability.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.engine.calibrators import (
    IsotonicTierCalibrator,
    TemperatureScaling,
    calibrator_from_params,
)
from virtuna.engine.result import AnalysisResult
from virtuna.models import Calibrator

CACHE_TTL_SECONDS = 30.0  # activation → every process within a minute, with room to spare
log = structlog.get_logger("virtuna.predictions.calibration")
Key = tuple[str, str | None, str]  # engine_version, model_version, input_mode


@dataclass(frozen=True)
class ActiveCalibrator:
    version: str
    calibrator: TemperatureScaling | IsotonicTierCalibrator


@dataclass(frozen=True)
class Served:
    """A result as served, with what the ledger keeps about its calibration."""

    result: AnalysisResult
    raw_tier_probabilities: list[float] | None
    calibrator_version: str | None


class _Cache:
    """Active calibrators per database URL, reloaded after the TTL."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, dict[Key, ActiveCalibrator]]] = {}

    def get(self, url: str, now: float) -> dict[Key, ActiveCalibrator] | None:
        entry = self._entries.get(url)
        if entry is None or now - entry[0] > CACHE_TTL_SECONDS:
            return None
        return entry[1]

    def put(self, url: str, now: float, value: dict[Key, ActiveCalibrator]) -> None:
        self._entries[url] = (now, value)

    def clear(self) -> None:
        self._entries.clear()


_cache = _Cache()


def clear_cache() -> None:
    """Forget the cached rows (after an activation in this process, and in tests)."""
    _cache.clear()


async def _load(session: AsyncSession) -> dict[Key, ActiveCalibrator]:
    rows = (await session.scalars(select(Calibrator).where(Calibrator.active.is_(True)))).all()
    out: dict[Key, ActiveCalibrator] = {}
    for row in rows:
        try:
            cal = calibrator_from_params(row.params)
        except (KeyError, TypeError, ValueError) as exc:
            # A bad row must not break scoring: serve uncalibrated and say why in the log.
            log.error("calibration.params_invalid", version=row.version, error=str(exc))
            continue
        out[(row.engine_version, row.model_version, row.input_mode)] = ActiveCalibrator(
            row.version, cal
        )
    return out


def clock() -> float:
    """The cache's clock (monotonic seconds; tests move it to expire the cache)."""
    return time.monotonic()


async def active_calibrators(session: AsyncSession) -> Mapping[Key, ActiveCalibrator]:
    url = session.get_bind().engine.url.render_as_string(hide_password=True)
    now = clock()
    cached = _cache.get(url, now)
    if cached is None:
        cached = await _load(session)
        _cache.put(url, now, cached)
    return cached


async def serve(session: AsyncSession, result: AnalysisResult) -> Served:
    """The result with the matching active calibrator applied (or unchanged)."""
    raw = list(result.tier_probabilities) if result.tier_probabilities is not None else None
    if raw is None:
        return Served(result, None, None)
    key = (result.engine_version, result.model_version, result.input_mode)
    active = (await active_calibrators(session)).get(key)
    if active is None:
        return Served(result, raw, None)
    calibrated = active.calibrator.transform(np.asarray([raw], dtype=np.float64))[0]
    probs = [round(float(p), 6) for p in calibrated]
    served = result.model_copy(update={"tier_probabilities": probs, "is_calibrated": True})
    return Served(served, raw, active.version)
