"""``validate-rules`` (daily): each rule's lift on recent scraped outcomes; retire harmful ones."""

from __future__ import annotations

from typing import Any

import structlog

from virtuna.jobs import JobContext, task
from virtuna.kit.db import unit_of_work
from virtuna.models.base import utcnow
from virtuna.predictions.rule_validation import ValidationConfig, validate_rules

TASK = "validate-rules"
log = structlog.get_logger("virtuna.predictions")


@task(TASK, schedule_setting="schedule_validate_rules", lock=TASK)
async def validate_rules_task(
    ctx: JobContext, apply: bool = True, window_days: int | None = None
) -> dict[str, Any]:
    """Idempotent: a rerun measures the same population and writes the same state. The
    report is the run's stored result (``virtuna jobs status RUN_ID``); serving processes
    load the new rule state when they next start."""
    config = ValidationConfig(window_days=window_days or ValidationConfig.window_days)
    async with unit_of_work(ctx.sessions) as session:
        report = await validate_rules(session, now=utcnow(), config=config, apply=apply)
    log.info(
        "rules.validated",
        videos=report["videos"],
        deactivated=report["deactivated"],
        measured=sum(1 for r in report["rules"] if r["lift"] is not None),
    )
    return report
