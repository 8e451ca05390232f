"""Calibration report and audit on production predictions joined with their outcomes.

Groups are (engine_version, model_version, input_mode): a calibrator learnt on one engine,
bundle or input mode says nothing about another. Only rows of the bundle whose tier
cut-offs are known (the one being served) are judged; others are counted, not scored.

The audit fits on the *raw* tier probabilities the ledger kept (never on already
calibrated ones — the earlier system's feedback loop), gates each candidate on the
latest held-out rows (``virtuna.engine.calibrate.fit_with_gate``), stores every decision as
a versioned ``calibrators`` row (refusals too, inactive) and activates a winner by
deactivating its predecessor in the same transaction.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.engine.calibrate import (
    FloatArray,
    IntArray,
    as_probs,
    metrics_report,
    observed_tiers,
)
from virtuna.engine.calibrators import fit_with_gate
from virtuna.models import CalibrationReport, Calibrator
from virtuna.outcomes import repository
from virtuna.outcomes.ledger import JoinedRow, TierReference, joined_rows
from virtuna.training.metrics import spearman

log = structlog.get_logger("virtuna.outcomes.calibration")
GroupKey = tuple[str, str | None, str]
TierFn = Callable[[FloatArray], IntArray]


@dataclass(frozen=True)
class GateSettings:
    min_rows: int = 50
    isotonic_min_rows: int = 1000
    holdout_fraction: float = 0.3


def rows_report(rows: list[JoinedRow], *, probs_of: str, tiers: TierFn,
                reps: int = 200) -> dict[str, Any]:  # fmt: skip
    """Metrics of one population: probabilities ``probs_of`` ("raw_probs"/"served_probs")."""
    usable = [r for r in rows if getattr(r, probs_of)]
    probs = as_probs([getattr(r, probs_of) for r in usable]) if usable else np.zeros((0, 5))
    observed = tiers(np.asarray([float(r.views) for r in usable]))
    report = metrics_report(probs, observed, reps=reps)
    score = np.asarray([r.score for r in usable], dtype=np.float64)
    rho = spearman(score, np.log1p(np.asarray([float(r.views) for r in usable])))
    report["spearman"] = None if np.isnan(rho) else rho
    return report


def _groups(rows: list[JoinedRow]) -> dict[GroupKey, list[JoinedRow]]:
    out: dict[GroupKey, list[JoinedRow]] = defaultdict(list)
    for r in rows:
        out[(r.engine_version, r.model_version, r.input_mode)].append(r)
    return out


async def production_report(
    session: AsyncSession, *, tiers: TierReference, horizon_days: int, reps: int = 200
) -> dict[str, Any]:
    """The report of ``GET /api/admin/calibration-report`` and ``virtuna calibration report``."""
    rows, awaiting = await joined_rows(session, horizon=timedelta(days=horizon_days))
    mine = [r for r in rows if r.model_version == tiers.model_version]

    def tier_fn(views: FloatArray) -> IntArray:
        return observed_tiers(views, tiers.cutoffs)

    groups = []
    for (engine, model, mode), members in sorted(_groups(mine).items(), key=str):
        groups.append(
            {
                "engine_version": engine,
                "model_version": model,
                "input_mode": mode,
                "n": len(members),
                "raw": rows_report(members, probs_of="raw_probs", tiers=tier_fn, reps=reps),
                "served": rows_report(members, probs_of="served_probs", tiers=tier_fn, reps=reps),
                "calibrated_rows": sum(r.served_probs != r.raw_probs for r in members),
            }
        )
    active = await repository.active_calibrators(session)
    return {
        "generated_at": datetime.now(UTC).isoformat(),
        "horizon_days": horizon_days,
        "model_version": tiers.model_version,
        "tier_cutoffs_views": [round(float(np.expm1(c))) for c in tiers.cutoffs],
        "joined_rows": len(mine),
        "other_model_rows": len(rows) - len(mine),
        "awaiting_horizon": awaiting,
        "pooled": rows_report(mine, probs_of="raw_probs", tiers=tier_fn, reps=reps),
        "groups": groups,
        "active_calibrators": [_calibrator_json(c) for c in active],
    }


def _calibrator_json(c: Calibrator) -> dict[str, Any]:
    return {
        "version": c.version,
        "engine_version": c.engine_version,
        "model_version": c.model_version,
        "input_mode": c.input_mode,
        "kind": c.kind,
        "fit_rows": c.fit_rows,
        "holdout_rows": c.holdout_rows,
        "metrics": c.metrics,
        "activated_at": c.activated_at.isoformat() if c.activated_at else None,
    }


async def _decide(
    session: AsyncSession, key: GroupKey, rows: list[JoinedRow], *, tiers: TierReference,
    gate: GateSettings, horizon_days: int, now: datetime,
) -> dict[str, Any]:  # fmt: skip
    engine, model, mode = key
    usable = [r for r in rows if r.raw_probs]  # rows come in serving order
    observed = observed_tiers([r.views for r in usable], tiers.cutoffs)
    probs = as_probs([r.raw_probs or [] for r in usable]) if usable else np.zeros((0, 5))
    decision = fit_with_gate(probs, observed, min_rows=gate.min_rows,
                             isotonic_min_rows=gate.isotonic_min_rows,
                             holdout_fraction=gate.holdout_fraction)  # fmt: skip
    summary: dict[str, Any] = {"engine_version": engine, "model_version": model,
                               "input_mode": mode} | asdict(decision)  # fmt: skip
    if not decision.candidates:
        return summary  # too few rows: nothing was fitted, nothing to store
    version = f"cal-{now:%Y%m%d%H%M%S}-{mode}-{uuid.uuid4().hex[:8]}"
    if decision.activate:
        await repository.deactivate(session, engine_version=engine, model_version=model,
                                    input_mode=mode)  # fmt: skip
    await repository.add_calibrator(
        session,
        Calibrator(
            version=version, engine_version=engine, model_version=model, input_mode=mode,
            kind=decision.kind or "none", params=decision.params, horizon_days=horizon_days,
            fit_rows=decision.n_fit, holdout_rows=decision.n_holdout,
            metrics={"before": decision.before, "after": decision.after,
                     "candidates": decision.candidates, "reason": decision.reason},
            active=decision.activate, activated_at=now if decision.activate else None,
        ),
    )  # fmt: skip
    summary["version"] = version
    return summary


async def audit(
    session: AsyncSession, *, tiers: TierReference, horizon_days: int, gate: GateSettings,
    now: datetime | None = None, reps: int = 200,
) -> dict[str, Any]:  # fmt: skip
    """Recompute and store the report; fit, gate and (maybe) activate per group."""
    now = now or datetime.now(UTC)
    report = await production_report(session, tiers=tiers, horizon_days=horizon_days, reps=reps)
    rows, _ = await joined_rows(session, horizon=timedelta(days=horizon_days))
    mine = [r for r in rows if r.model_version == tiers.model_version]
    decisions = []
    for key, members in sorted(_groups(mine).items(), key=str):
        decisions.append(await _decide(session, key, members, tiers=tiers, gate=gate,
                                       horizon_days=horizon_days, now=now))  # fmt: skip
    report["decisions"] = decisions
    report["active_calibrators"] = [
        _calibrator_json(c) for c in await repository.active_calibrators(session)
    ]
    await repository.add_report(
        session, CalibrationReport(kind="audit", horizon_days=horizon_days, report=report)
    )
    pooled = report["pooled"]["metrics"]
    log.info("calibration.audit.completed", joined_rows=report["joined_rows"],
             ece_top_15=pooled["ece_top_15"]["value"], nll=pooled["nll"]["value"],
             activated=[d.get("version") for d in decisions if d["activate"]])  # fmt: skip
    return report


async def latest_audit(session: AsyncSession) -> dict[str, Any] | None:
    row = await repository.latest_report(session, "audit")
    return None if row is None else {"stored_at": row.created_at.isoformat(), **row.report}
