"""Background jobs of the outcomes domain (both idempotent)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from virtuna.config import Settings
from virtuna.jobs import JobContext, RetryPolicy, task
from virtuna.kit.db import unit_of_work
from virtuna.outcomes import calibration, follow_up, repository
from virtuna.outcomes.ledger import TierReference
from virtuna.predictions.calibration import clear_cache
from virtuna.predictions.engine_factory import load_predictor

log = structlog.get_logger("virtuna.outcomes.tasks")


def tier_reference(settings: Settings) -> TierReference | None:
    """The served bundle's tier cut-offs (None without a model: nothing to calibrate)."""
    bundle = load_predictor(settings)
    if bundle is None:
        return None
    return TierReference(model_version=bundle.version, cutoffs=bundle.meta.tier_cutoffs)


def gate_settings(settings: Settings) -> calibration.GateSettings:
    return calibration.GateSettings(
        min_rows=settings.calibration_min_rows,
        isotonic_min_rows=settings.calibration_isotonic_min_rows,
        holdout_fraction=settings.calibration_holdout_fraction,
    )


@task(
    "calibration-audit",
    schedule_setting="schedule_calibration_audit",
    retry=RetryPolicy(max_attempts=2),
    lock="calibration",
)
async def calibration_audit(ctx: JobContext) -> dict[str, Any]:
    """CAL-03: recompute and store the report, log ECE, fit/gate/activate calibrators.

    Re-running is safe: a rerun fits on the same rows and either activates an equivalent
    calibrator or refuses again; every decision is its own versioned row.
    """
    tiers = tier_reference(ctx.settings)
    if tiers is None:
        return {"status": "skipped", "reason": "no model bundle loaded"}
    async with unit_of_work(ctx.sessions) as session:
        report = await calibration.audit(
            session,
            tiers=tiers,
            horizon_days=ctx.settings.calibration_horizon_days,
            gate=gate_settings(ctx.settings),
        )
    clear_cache()  # this process at once; the others within the cache TTL
    return {
        "status": "ok",
        "joined_rows": report["joined_rows"],
        "ece_top_15": report["pooled"]["metrics"]["ece_top_15"]["value"],
        "activated": [d["version"] for d in report["decisions"] if d["activate"]],
    }


@task(
    "outcome-follow-up",
    schedule_setting="schedule_outcome_follow_up",
    lock="outcome-follow-up",
)
async def outcome_follow_up(ctx: JobContext) -> dict[str, Any]:
    """OUT-01: scrape posted videos at 48 h and 7 days after posting, once each."""
    fetcher = follow_up.fetcher_for(ctx)
    if fetcher is None:
        # Recorded on the job run (and logged): the rows wait, nothing pretends to succeed.
        async with unit_of_work(ctx.sessions) as session:
            due = await repository.count_due(session, now=datetime.now(UTC))
        reason = "no post-metrics scraper configured (APIFY_TOKEN is not set)"
        log.warning("outcome.follow_up.skipped", reason=reason, due=due)
        return {"status": "skipped", "reason": reason, "due": due}
    stale = timedelta(minutes=ctx.settings.outcome_follow_up_stale_minutes)
    return await follow_up.follow_up(ctx.sessions, fetcher=fetcher, stale_after=stale)
