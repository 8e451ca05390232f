"""Seed data for the dashboard tests: analyses, LLM calls, job runs, a calibration audit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from virtuna.config import Settings
from virtuna.kit.db import create_engine, create_session_factory, unit_of_work
from virtuna.models import Analysis, JobRun, LLMCall
from virtuna.models.outcomes import CalibrationReport

CONFIDENCES = (0.15, 0.35, 0.55, 0.62, 0.71, 0.74, 0.78, 0.83, 0.91)


def _label(confidence: float) -> str:
    return "HIGH" if confidence >= 0.75 else "MEDIUM" if confidence >= 0.5 else "LOW"


def analysis(user_id: uuid.UUID, i: int, now: datetime) -> Analysis:
    confidence = CONFIDENCES[i % len(CONFIDENCES)]
    score = float(20 + (i * 7) % 70)
    return Analysis(
        user_id=user_id,
        created_at=now - timedelta(days=(i % 20), hours=1),
        input_mode="text",
        content_type="video",
        content_text=f"draft {i}",
        overall_score=score,
        raw_score=score,
        tier=1 + i % 5,
        ml_score=float((i * 13) % 100),
        confidence=confidence,
        confidence_label=_label(confidence),
        engine_version="test",
        model_version="lgbm-test",
        latency_ms=100,
        cost_cents=0.01,
        result={},
        feature_vector={},
    )


def llm_call(i: int, now: datetime) -> LLMCall:
    return LLMCall(
        provider="gemini" if i % 2 else "deepseek",
        model="gemini-flash" if i % 2 else "deepseek-flash",
        role="content",
        attempt=1,
        prompt_version="p1",
        outcome="ok",
        input_tokens=1000,
        output_tokens=200,
        cost_cents=0.05 + 0.01 * i,
        latency_ms=500.0,
        started_at=now - timedelta(days=i % 6, minutes=5),
    )


def job_run(i: int, now: datetime) -> JobRun:
    status = ("succeeded", "failed", "succeeded", "queued")[i % 4]
    return JobRun(
        id=uuid.uuid4().hex,
        task_name=("calculate-trends", "scrape-trending", "sync-whop")[i % 3],
        args={},
        trigger="schedule",
        status=status,
        attempt=1,
        max_attempts=3,
        error="boom" if status == "failed" else None,
        created_at=now - timedelta(hours=i),
        scheduled_at=now - timedelta(hours=i),
    )


def audit_report(now: datetime) -> CalibrationReport:
    bins = [
        {
            "lower": k / 10,
            "upper": (k + 1) / 10,
            "count": 10 + k,
            "mean_confidence": k / 10 + 0.05,
            "observed_rate": min(1.0, k / 10 + 0.02),
            "gap": 0.03,
        }
        for k in range(2, 9)
    ]
    pooled = {
        "n": 91,
        "metrics": {"ece_top_15": {"value": 0.042, "ci95": [0.02, 0.06]}},
        "reliability": {"top_label_15": bins, "tier5_10": []},
    }
    return CalibrationReport(
        kind="audit",
        horizon_days=7,
        created_at=now - timedelta(days=1),
        report={"joined_rows": 91, "pooled": pooled, "groups": []},
    )


async def seed_dashboard(settings: Settings, user_id: uuid.UUID) -> None:
    now = datetime.now(UTC)
    engine = create_engine(settings)
    try:
        async with unit_of_work(create_session_factory(engine)) as session:
            session.add_all([analysis(user_id, i, now) for i in range(40)])
            session.add_all([llm_call(i, now) for i in range(12)])
            session.add_all([job_run(i, now) for i in range(9)])
            session.add(audit_report(now))
    finally:
        await engine.dispose()
