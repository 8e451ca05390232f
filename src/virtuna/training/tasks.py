"""Training jobs."""

from __future__ import annotations

from typing import Any

import structlog

from virtuna.jobs import JobContext, RetryPolicy, task
from virtuna.training.retrain import RetrainConfig, retrain

log = structlog.get_logger("virtuna.training")


@task(
    "retrain-ml",
    schedule_setting="schedule_retrain_ml",
    # A failed fit is rarely transient; one retry covers a restart mid-run.
    retry=RetryPolicy(max_attempts=2, base_delay_seconds=600.0),
    lock="ml",
)
async def retrain_ml(ctx: JobContext, seed: int = 42) -> dict[str, Any]:
    """Train a challenger on the scraped videos and promote it if it passes the gate.

    Idempotent: the same data and seed are trained once (a second delivery is a no-op).
    """
    config = RetrainConfig.from_settings(ctx.settings, seed=seed)

    def progress(message: str) -> None:
        log.info("ml.retrain.progress", message=message, job_id=ctx.job_id)

    await ctx.report(0, None, "retraining")
    result = await retrain(ctx.sessions, config, progress)
    log.info("ml.retrain.finished", **{k: v for k, v in result.items() if k != "gate"})
    return result
