"""`validate-rules` (lift on scraped outcomes, harmful rules retired) and
`process-webhook-events` (unhandled deliveries re-deferred once), on the real job engine."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from virtuna.jobs import JobContext
from virtuna.kit.db import create_engine, create_session_factory, unit_of_work
from virtuna.models import ExternalEvent, JobRun, Rule, Video
from virtuna.models.base import utcnow
from virtuna.predictions.rule_validation import measure, percentiles
from virtuna.webhooks.store import store_event
from virtuna.webhooks.tasks import process_webhook_events
from virtuna.worker.runtime import JobSystem

RULES = {
    "hook_wait_for_it": r"\bwait for it\b",  # fires on videos that do well
    "spam_follow_back": r"\bfollow for follow\b",  # fires on videos that do badly
    "neutral_fyp": r"#fyp\b",  # fires at random
    "rare_unicorn": r"\bunicorn\b",  # fires too rarely to judge
    "retired_already": r"\bpov\b",  # inactive before the run
}


def _rule(name: str, pattern: str) -> Rule:
    spec = {"name": name, "category": "hook", "tier": "regex", "pattern": pattern}
    return Rule(
        name=name,
        category="hook",
        platform=None,
        tier="regex",
        pattern=pattern,
        weight=1.0,
        max_score=10.0,
        active=name != "retired_already",
        source_version="test",
        spec=spec,
    )


def _video(i: int, rng: random.Random) -> Video:
    views = rng.lognormvariate(9, 1.5)
    words = ["my day"]
    if i % 5 == 0:
        words.append("wait for it")
        views *= 6
    elif i % 5 == 1:
        words.append("follow for follow")
        views /= 6
    if rng.random() < 0.5:
        words.append("#fyp")
    if i < 4:
        words.append("unicorn")
    if i % 3 == 0:
        words.append("pov")
    return Video(
        tiktok_id=f"7{i:018d}",
        author_handle=f"creator{i % 40}",
        caption=" ".join(words),
        hashtags=[],
        posted_at=utcnow() - timedelta(days=3 + i % 40),
        source="test",
        latest_views=int(views),
    )


async def _seed_rules_and_videos(system: JobSystem) -> None:
    rng = random.Random(7)
    async with unit_of_work(system.runtime.sessions) as session:
        session.add_all([_rule(name, pattern) for name, pattern in RULES.items()])
        session.add_all([_video(i, rng) for i in range(400)])
        # Too fresh to judge (views still climbing): must be left out of the population.
        fresh = _video(10_000, rng)
        fresh.posted_at = utcnow() - timedelta(hours=6)
        session.add(fresh)


async def _rules(system: JobSystem) -> dict[str, Rule]:
    async with system.runtime.sessions() as session:
        return {r.name: r for r in await session.scalars(select(Rule))}


async def _run(system: JobSystem, task: str, args: dict[str, Any] | None = None) -> JobRun:
    job_id = await system.queue.defer(task, args=args or {})
    assert job_id is not None
    await system.worker().run_until_idle()
    async with system.runtime.sessions() as session:
        runs = list(
            await session.scalars(
                select(JobRun).where(JobRun.task_name == task).order_by(JobRun.created_at)
            )
        )
    return runs[-1]


async def test_validate_rules_retires_only_the_harmful_rule(ops_system: JobSystem) -> None:
    await _seed_rules_and_videos(ops_system)
    dry = await _run(ops_system, "validate-rules", {"apply": False})
    assert dry.status == "succeeded", dry.error
    assert dry.result is not None
    assert dry.result["deactivated"] == ["spam_follow_back"]
    assert all(r.active for n, r in (await _rules(ops_system)).items() if n != "retired_already")

    run = await _run(ops_system, "validate-rules")
    assert run.status == "succeeded", run.error
    report = run.result
    assert report is not None
    assert report["videos"] == 400  # the 6-hour-old video is not judged yet
    by_name = {r["name"]: r for r in report["rules"]}
    assert by_name["spam_follow_back"]["action"] == "deactivated"
    assert by_name["spam_follow_back"]["lift"] < -0.2
    assert by_name["hook_wait_for_it"]["action"] == "kept"
    assert by_name["hook_wait_for_it"]["lift"] > 0.2
    assert by_name["neutral_fyp"]["action"] == "kept"
    assert by_name["rare_unicorn"] == {
        "name": "rare_unicorn",
        "support": 4,
        "lift": None,
        "z": None,
        "action": "insufficient_support",
    }
    assert by_name["retired_already"]["action"] == "already_inactive"
    rules = await _rules(ops_system)
    assert rules["spam_follow_back"].active is False
    assert rules["hook_wait_for_it"].active is True
    assert rules["hook_wait_for_it"].lift == by_name["hook_wait_for_it"]["lift"]
    assert rules["rare_unicorn"].active is True
    assert rules["rare_unicorn"].lift is None

    again = await _run(ops_system, "validate-rules")  # idempotent: same state, nothing new
    assert again.result is not None
    assert again.result["deactivated"] == []
    assert (await _rules(ops_system))["hook_wait_for_it"].lift == rules["hook_wait_for_it"].lift


def test_lift_statistics() -> None:
    assert percentiles([10, 20, 20, 40]) == [0.0, 0.5, 0.5, 1.0]
    ranks = percentiles(list(range(100)))
    support, lift, z = measure([r >= 0.5 for r in ranks], ranks)
    assert support == 50
    assert lift > 0.45
    assert z > 10
    _, flat, flat_z = measure([i % 2 == 0 for i in range(100)], [0.5] * 100)
    assert flat == 0.0
    assert flat_z == 0.0


async def test_process_webhook_events_redefers_unhandled_deliveries_once(
    ops_system: JobSystem,
) -> None:
    settings = ops_system.settings
    engine = create_engine(settings)
    try:
        async with unit_of_work(create_session_factory(engine)) as session:
            whop_id, _ = await store_event(
                session,
                source="whop",
                external_id="msg_1",
                event_type="membership.activated",
                payload={},
            )
            apify_id, _ = await store_event(
                session,
                source="apify",
                external_id="ACTOR.RUN.SUCCEEDED:run42",
                event_type="ACTOR.RUN.SUCCEEDED",
                payload={"eventData": {"actorRunId": "run42"}},
            )
            done_id, _ = await store_event(
                session,
                source="whop",
                external_id="msg_2",
                event_type="payment.succeeded",
                payload={},
            )
            young_id, _ = await store_event(
                session,
                source="whop",
                external_id="msg_3",
                event_type="payment.succeeded",
                payload={},
            )
            old = utcnow() - timedelta(minutes=10)
            await session.execute(
                update(ExternalEvent)
                .where(ExternalEvent.id.in_([whop_id, apify_id, done_id]))
                .values(created_at=old)
            )
            await session.execute(
                update(ExternalEvent).where(ExternalEvent.id == done_id).values(handled_at=old)
            )
    finally:
        await engine.dispose()
    async with httpx.AsyncClient() as http:
        ctx = JobContext(settings, ops_system.runtime.sessions, http, ops_system.queue)
        first = await process_webhook_events(ctx)
        second = await process_webhook_events(ctx)  # finds the handlers already waiting
    assert first == {"events": 2, "outcomes": {"deferred": 2}}
    assert second == {"events": 2, "outcomes": {"already_queued": 2}}
    async with ops_system.runtime.sessions() as session:
        runs = list(await session.scalars(select(JobRun).order_by(JobRun.created_at)))
    queued = [(r.task_name, r.args) for r in runs]
    assert sorted(queued, key=str) == sorted(
        [
            ("ingest-apify-run", {"run_id": "run42", "event_id": str(apify_id)}),
            ("process-whop-event", {"event_id": str(whop_id)}),
        ],
        key=str,
    )
    assert str(young_id) not in repr(queued)
    assert str(done_id) not in repr(queued)
