from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.errors import Conflict, ValidationFailed
from virtuna.models import ApiKey
from virtuna.users import service as users


async def test_profile_returns_the_key_owner(
    session: AsyncSession, client: httpx.AsyncClient
) -> None:
    created = await users.create_user(session, email="Pro@Example.com", plan="pro", is_admin=True)
    response = await client.get(
        "/api/profile", headers={"Authorization": f"Bearer {created.api_key}"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["email"] == "pro@example.com"
    assert body["plan"] == "pro"
    assert body["is_admin"] is True


async def test_key_is_stored_only_as_hash(session: AsyncSession) -> None:
    created = await users.create_user(session, email="hash@example.com")
    stored = (await session.scalars(select(ApiKey))).all()
    assert all(created.api_key not in (k.key_hash, k.prefix) for k in stored)
    assert any(k.key_hash == users.hash_key(created.api_key) for k in stored)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Bearer vt_wrong",
        "Basic abc",
        "bearer ",
        "Bearer " + "x" * 300,
        "Token vt_x",
    ],
)
async def test_bad_credentials_get_401_json(client: httpx.AsyncClient, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = await client.get("/api/profile", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_revoked_key_is_refused(session: AsyncSession, client: httpx.AsyncClient) -> None:
    created = await users.create_user(session, email="rev@example.com")
    headers = {"Authorization": f"Bearer {created.api_key}"}
    assert (await client.get("/api/profile", headers=headers)).status_code == 200
    assert await users.revoke_keys(session, user=created.user) == 1
    assert (await client.get("/api/profile", headers=headers)).status_code == 401


async def test_repeated_failures_are_throttled(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    statuses = [
        (await client.get("/api/profile", headers={"Authorization": "Bearer vt_nope"})).status_code
        for _ in range(11)
    ]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    blocked = await client.get("/api/profile", headers=auth)
    assert blocked.status_code == 429
    assert "retry-after" in blocked.headers


async def test_duplicate_email_and_bad_input(session: AsyncSession) -> None:
    await users.create_user(session, email="dup@example.com")
    with pytest.raises(Conflict):
        await users.create_user(session, email="DUP@example.com")
    with pytest.raises(ValidationFailed):
        await users.create_user(session, email="not-an-email")
    with pytest.raises(ValidationFailed):
        await users.create_user(session, email="ok@example.com", plan="platinum")
