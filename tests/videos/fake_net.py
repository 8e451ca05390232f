"""A fake network for TikTok link tests: DNS answers and HTTP handlers per host, every
request recorded (``httpx.MockTransport``; a request's URL host is the address it would
connect to)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from virtuna.videos.oembed import OEmbedClient

PUBLIC = {"www.tiktok.com": "151.101.2.10", "vm.tiktok.com": "151.101.2.11",
          "vt.tiktok.com": "151.101.2.12", "tiktok.com": "151.101.2.13"}  # fmt: skip
CANONICAL = "https://www.tiktok.com/@glowlab.daily/video/7571234567890123456"
OEMBED = {
    "version": "1.0",
    "type": "video",
    "title": "3 mistakes everyone makes with retinol #skincare #skintok",
    "author_url": "https://www.tiktok.com/@glowlab.daily",
    "author_name": "GlowLab",
    "author_unique_id": "glowlab.daily",
    "thumbnail_url": "https://p16-sign-va.tiktokcdn.com/obj/cover.jpeg",
    "embed_product_id": "7571234567890123456",
    "provider_name": "TikTok",
}
Handler = Callable[[httpx.Request], httpx.Response]


class Net:
    """A fake network: DNS answers per host (a list is consumed one answer per lookup) and
    a handler per Host header; every request is recorded."""

    def __init__(self, routes: dict[str, Handler], dns: dict[str, Any] | None = None) -> None:
        self.routes = routes
        self.dns: dict[str, Any] = {**PUBLIC, **(dns or {})}
        self.requests: list[httpx.Request] = []
        self.lookups: list[str] = []

    async def resolve(self, host: str) -> list[str]:
        self.lookups.append(host)
        answer = self.dns.get(host)
        if answer is None:
            raise OSError(f"NXDOMAIN {host}")
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        return [answer] if isinstance(answer, str) else list(answer)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        host = request.headers["host"]
        return self.routes[host](request)

    @property
    def connected(self) -> list[str]:
        return [r.url.host for r in self.requests]

    def client(self, **options: Any) -> OEmbedClient:
        http = httpx.AsyncClient(transport=httpx.MockTransport(self.handle))
        return OEmbedClient(http, resolve=self.resolve, **options)


def redirect(to: str, status: int = 302) -> Handler:
    return lambda _: httpx.Response(status, headers={"location": to})


def oembed(_: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=OEMBED)
