"""POST /api/analyze in tiktok_url mode: the link is resolved through oEmbed (fake network)
before scoring; a refused link is a 422 with nothing stored and nothing fetched from a
private address; an unresolvable one is scored from what the draft says, with a warning."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.videos.fake_net import CANONICAL, OEMBED, Net, oembed, redirect
from virtuna.models import Analysis
from virtuna.videos.oembed import is_public_address

SHORT = "https://vm.tiktok.com/ZMabc123/"


def install(app: FastAPI, net: Net) -> None:
    app.state.virtuna.extras["oembed"] = net.client()


async def test_short_link_draft_is_filled_from_oembed(
    app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str], session: AsyncSession
) -> None:
    net = Net({"vm.tiktok.com": redirect(CANONICAL), "www.tiktok.com": oembed})
    install(app, net)
    response = await client.post(
        "/api/analyze", json={"input_mode": "tiktok_url", "tiktok_url": SHORT}, headers=auth
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert not any("could not be resolved" in w for w in body["warnings"])
    row = await session.get(Analysis, uuid.UUID(body["id"]))
    assert row is not None
    assert row.content_text == OEMBED["title"]  # the caption was scored
    assert row.creator_handle == "glowlab.daily"
    assert row.tiktok_url == SHORT
    assert len(net.requests) == 2
    assert all(is_public_address(a) for a in net.connected)


async def test_what_the_user_typed_wins_over_oembed(
    app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str], session: AsyncSession
) -> None:
    install(app, Net({"www.tiktok.com": oembed}))
    draft = {
        "input_mode": "tiktok_url",
        "tiktok_url": CANONICAL,
        "content_text": "my own caption #diy",
        "creator_handle": "someone_else",
    }
    response = await client.post("/api/analyze", json=draft, headers=auth)
    assert response.status_code == 200, response.text
    row = await session.get(Analysis, uuid.UUID(response.json()["id"]))
    assert row is not None
    assert (row.content_text, row.creator_handle) == ("my own caption #diy", "someone_else")


async def test_short_link_to_a_private_address_is_refused(
    app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str], session: AsyncSession
) -> None:
    """S5: vm.tiktok.com -> 302 -> 10.0.0.1 answers 422, stores nothing, connects nowhere
    private."""
    net = Net({"vm.tiktok.com": redirect("http://10.0.0.1/latest/meta-data")})
    install(app, net)
    before = await session.scalar(select(func.count()).select_from(Analysis))
    response = await client.post(
        "/api/analyze", json={"input_mode": "tiktok_url", "tiktok_url": SHORT}, headers=auth
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"][0]["field"] == "tiktok_url"
    assert all(is_public_address(a) for a in net.connected)
    assert await session.scalar(select(func.count()).select_from(Analysis)) == before


async def test_unresolvable_link_is_scored_with_a_warning(
    app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    install(app, Net({"www.tiktok.com": lambda _: httpx.Response(503)}))
    draft = {"input_mode": "tiktok_url", "tiktok_url": CANONICAL, "content_text": "a caption"}
    response = await client.post("/api/analyze", json=draft, headers=auth)
    assert response.status_code == 200, response.text
    assert any("could not be resolved" in w for w in response.json()["warnings"])


async def test_batch_resolves_each_link(
    app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    install(app, Net({"vm.tiktok.com": redirect(CANONICAL), "www.tiktok.com": oembed}))
    drafts = [
        {"input_mode": "tiktok_url", "tiktok_url": SHORT},
        {"input_mode": "text", "content_text": "plain text draft"},
    ]
    response = await client.post("/api/analyze/batch", json={"drafts": drafts}, headers=auth)
    assert response.status_code == 200, response.text
    assert len(response.json()["results"]) == 2


async def test_batch_refusal_names_the_draft_and_stores_nothing(
    app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str], session: AsyncSession
) -> None:
    install(app, Net({"vm.tiktok.com": redirect("http://169.254.169.254/latest/meta-data")}))
    drafts = [
        {"input_mode": "text", "content_text": "plain text draft"},
        {"input_mode": "tiktok_url", "tiktok_url": SHORT},
    ]
    before = await session.scalar(select(func.count()).select_from(Analysis))
    response = await client.post("/api/analyze/batch", json={"drafts": drafts}, headers=auth)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"][0]["field"] == "drafts[1].tiktok_url"
    assert "drafts[1].tiktok_url" in error["message"]
    assert await session.scalar(select(func.count()).select_from(Analysis)) == before
