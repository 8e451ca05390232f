"""W2: Whop webhooks (Standard Webhooks), and what their events do to plans."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook

from tests.service.ops.conftest import WHOP_SECRET, client_for, make_user, ops_settings_for
from virtuna.config import Settings
from virtuna.models import ExternalEvent, Subscription, User
from virtuna.worker.runtime import JobSystem

URL = "/api/webhooks/whop"


def envelope(event_type: str, data: dict[str, Any], *, at: datetime | None = None) -> bytes:
    when = (at or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    body = {
        "id": f"msg_{uuid.uuid4().hex[:20]}",
        "api_version": "v1",
        "timestamp": when,
        "type": event_type,
        "data": data,
    }
    return json.dumps(body).encode()


def membership(
    user_id: uuid.UUID | None, *, product: str = "prod_starter", mem: str = "mem_1"
) -> dict[str, Any]:
    return {
        "id": mem,
        "status": "active",
        "user_id": "user_5RwX2nB8qYt1Pv",
        "product_id": product,
        "plan_id": "plan_x",
        "current_period_end": "2031-01-20T10:19:58.000Z",
        "metadata": {"virtuna_user_id": str(user_id)} if user_id else {},
    }


def signed(
    body: bytes,
    *,
    secret: str = WHOP_SECRET,
    msg_id: str | None = None,
    at: datetime | None = None,
) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex[:24]}"
    when = at or datetime.now(UTC)
    key = base64.b64encode(secret.encode()).decode()
    signature = Webhook(key).sign(msg_id, when, body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


async def _stored(system: JobSystem) -> int:
    async with system.runtime.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(ExternalEvent).where(ExternalEvent.source == "whop")
        )
    return int(count or 0)


async def _user(system: JobSystem, user_id: uuid.UUID) -> tuple[User, Subscription | None]:
    async with system.runtime.sessions() as session:
        user = await session.get(User, user_id)
        sub = await session.scalar(select(Subscription).where(Subscription.user_id == user_id))
    assert user is not None
    return user, sub


def _bad_requests() -> list[tuple[str, Any]]:
    def now() -> datetime:
        return datetime.now(UTC)

    return [
        ("tampered-body", lambda b: (b.replace(b"prod_starter", b"plan_pro"), signed(b))),
        ("wrong-secret", lambda b: (b, signed(b, secret="ws_other_secret"))),
        ("missing-id", lambda b: (b, _without(signed(b), "webhook-id"))),
        ("missing-signature", lambda b: (b, _without(signed(b), "webhook-signature"))),
        ("missing-timestamp", lambda b: (b, _without(signed(b), "webhook-timestamp"))),
        ("stale-301s", lambda b: (b, signed(b, at=now() - timedelta(seconds=301)))),
        ("future-301s", lambda b: (b, signed(b, at=now() + timedelta(seconds=301)))),
        ("garbage-signature", lambda b: (b, {**signed(b), "webhook-signature": "v1"})),
        ("bad-base64", lambda b: (b, {**signed(b), "webhook-signature": "v1,@@@"})),
        ("bad-timestamp", lambda b: (b, {**signed(b), "webhook-timestamp": "soon"})),
    ]


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != name}


@pytest.mark.parametrize(("name", "make"), _bad_requests(), ids=[n for n, _ in _bad_requests()])
async def test_bad_deliveries_are_4xx_and_never_stored(
    ops_client: httpx.AsyncClient, ops_system: JobSystem, name: str, make: Any
) -> None:
    body, headers = make(envelope("membership.activated", membership(uuid.uuid4())))
    response = await ops_client.post(URL, content=body, headers=headers)
    assert response.status_code == 401, (name, response.text)
    assert await _stored(ops_system) == 0


async def test_unset_secret_refuses(fresh_url: str, tmp_path: Path, ops_system: JobSystem) -> None:
    settings = ops_settings_for(fresh_url, tmp_path, WHOP_WEBHOOK_SECRET=None)
    body = envelope("membership.activated", membership(uuid.uuid4()))
    async with client_for(settings) as client:
        response = await client.post(URL, content=body, headers=signed(body))
    assert response.status_code == 401
    assert await _stored(ops_system) == 0


async def test_signed_non_json_is_400(ops_client: httpx.AsyncClient, ops_system: JobSystem) -> None:
    response = await ops_client.post(URL, content=b"not json", headers=signed(b"not json"))
    assert response.status_code == 400
    assert await _stored(ops_system) == 0


async def test_activation_upgrades_plan_once_even_when_replayed(
    ops_client: httpx.AsyncClient, ops_settings: Settings, ops_system: JobSystem
) -> None:
    user_id, _ = await make_user(ops_settings)
    body = envelope("membership.activated", membership(user_id))
    headers = signed(body, msg_id="msg_activation_1")
    first = await ops_client.post(URL, content=body, headers=headers)
    assert first.status_code == 202, first.text
    assert first.json() == {"received": True, "duplicate": False, "queued": True}
    await ops_system.worker().run_until_idle()
    user, sub = await _user(ops_system, user_id)
    assert user.plan == "starter"
    assert sub is not None
    assert sub.status == "active"
    assert sub.membership_id == "mem_1"

    # The user is moved to pro by hand; a replay of the old delivery must not undo it.
    async with ops_system.runtime.sessions() as session:
        stored_user = await session.get(User, user_id)
        assert stored_user is not None
        stored_user.plan = "pro"
        await session.commit()
    replay = await ops_client.post(
        URL,
        content=body,
        headers=signed(body, msg_id="msg_activation_1"),  # fresh timestamp
    )
    assert replay.status_code == 202
    assert replay.json() == {"received": True, "duplicate": True, "queued": False}
    await ops_system.worker().run_until_idle()
    assert await _stored(ops_system) == 1
    assert (await _user(ops_system, user_id))[0].plan == "pro"


async def _deliver(client: httpx.AsyncClient, system: JobSystem, body: bytes) -> None:
    response = await client.post(URL, content=body, headers=signed(body))
    assert response.status_code == 202, response.text
    await system.worker().run_until_idle()


async def test_lifecycle_with_current_and_legacy_event_names(
    ops_client: httpx.AsyncClient, ops_settings: Settings, ops_system: JobSystem
) -> None:
    user_id, _ = await make_user(ops_settings)
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    pro = membership(user_id, product="prod_other")
    pro["plan_id"] = "plan_pro"
    await _deliver(ops_client, ops_system, envelope("membership.went_valid", pro, at=t0))
    assert (await _user(ops_system, user_id))[0].plan == "pro"

    payment = {"id": "pay_1", "membership_id": "mem_1", "status": "paid", "metadata": {}}
    failed_at = t0 + timedelta(minutes=1)
    await _deliver(ops_client, ops_system, envelope("payment.failed", payment, at=failed_at))
    user, sub = await _user(ops_system, user_id)
    assert sub is not None
    assert sub.status == "past_due"
    assert user.plan == "pro"

    paid_at = t0 + timedelta(minutes=2)
    await _deliver(ops_client, ops_system, envelope("payment.succeeded", payment, at=paid_at))
    assert (await _user(ops_system, user_id))[1].status == "active"  # type: ignore[union-attr]

    # Deactivation arrives without metadata: found through the membership id.
    gone = membership(None)
    await _deliver(
        ops_client,
        ops_system,
        envelope("membership.deactivated", gone, at=t0 + timedelta(minutes=3)),
    )
    user, sub = await _user(ops_system, user_id)
    assert user.plan == "free"
    assert sub is not None
    assert sub.status == "cancelled"

    # A late redelivery of an older activation does not resurrect the plan.
    await _deliver(
        ops_client,
        ops_system,
        envelope("membership.activated", pro, at=t0 + timedelta(minutes=1, seconds=30)),
    )
    assert (await _user(ops_system, user_id))[0].plan == "free"


async def test_unknown_events_and_unlinked_users_are_acknowledged(
    ops_client: httpx.AsyncClient, ops_system: JobSystem
) -> None:
    await _deliver(ops_client, ops_system, envelope("dispute.created", {"id": "dp_1"}))
    await _deliver(
        ops_client, ops_system, envelope("membership.activated", membership(None, mem="mem_x"))
    )
    async with ops_system.runtime.sessions() as session:
        handled = (await session.scalars(select(ExternalEvent.handled_at))).all()
    assert len(handled) == 2
    assert all(h is not None for h in handled)
