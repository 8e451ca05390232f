from __future__ import annotations

import httpx


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["migration"] == ready.json()["checks"]["head"]


async def test_request_id_is_echoed_or_minted(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-ID": "req-123"})
    assert echoed.headers["x-request-id"] == "req-123"
    minted = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert minted.headers["x-request-id"] != "bad id\twith spaces"
    assert len(minted.headers["x-request-id"]) == 32


async def test_unknown_route_uses_error_body(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_oversized_body_is_413(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.post("/api/profile", content=b"x" * (2 * 1024 * 1024), headers=auth)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_security_headers_and_openapi(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "/api/profile" in response.json()["paths"]
