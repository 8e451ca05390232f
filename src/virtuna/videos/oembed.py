"""tiktok_url mode: what TikTok's oEmbed says about a link (caption, author, thumbnail).

Every outbound request here is SSRF-guarded (reliability row S5):

- the URL must pass ``engine.urls.parse_tiktok_url`` (the TikTok allowlist), and so must every
  redirect target of a short link (vm./vt.tiktok.com, ``/t/``), followed by hand, at most
  ``VIRTUNA_TIKTOK_MAX_REDIRECTS`` hops;
- the host is resolved once, every address checked (private, loopback, link-local, reserved,
  multicast, shared and unspecified addresses refused), and the request is sent to that
  checked address (``Host`` header and TLS SNI keep the name), so a DNS answer that flips to a
  private address between the check and the connect cannot be used.

A refused hop raises ``LinkRefused`` (the caller answers 422). Anything transient (DNS
failure, timeout, 4xx/5xx, a malformed answer) raises ``LinkUnresolved``: the analysis goes on
with what the draft already says, with a warning, never a 500.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpx

from virtuna.engine.urls import SHORT_LINK_HOSTS, InvalidTikTokUrl, TikTokUrl, parse_tiktok_url

Resolver = Callable[[str], Awaitable[list[str]]]  # host name -> IP addresses
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_CAPTION_CHARS = 10_000


class LinkRefused(Exception):
    """The link (or a redirect it leads to) is not allowed; ``reason`` is user-facing."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class LinkUnresolved(Exception):
    """The link could not be resolved right now; the analysis goes on without it."""


@dataclass(frozen=True, slots=True)
class LinkInfo:
    url: str  # the canonical video URL the short links led to (or the URL given)
    caption: str | None
    author_handle: str | None
    author_name: str | None
    thumbnail_url: str | None
    video_id: str | None


async def system_resolver(host: str) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, 443, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def is_public_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


@dataclass
class OEmbedClient:
    http: httpx.AsyncClient
    endpoint: str = "https://www.tiktok.com/oembed"
    max_redirects: int = 3
    timeout: float = 5.0
    resolve: Resolver = system_resolver

    async def lookup(self, raw_url: str) -> LinkInfo:
        """The link's oEmbed facts; ``LinkRefused`` or ``LinkUnresolved`` otherwise."""
        try:
            async with asyncio.timeout(self.timeout):
                canonical = await self.follow(_allowed(raw_url))
                return await self._oembed(canonical)
        except TimeoutError:
            raise LinkUnresolved(f"no answer within {self.timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise LinkUnresolved(f"{type(exc).__name__}: {exc}"[:200]) from None

    async def follow(self, link: TikTokUrl) -> TikTokUrl:
        """Follow short-link redirects by hand, re-checking each target."""
        hops = 0
        while _is_short(link):
            if hops >= self.max_redirects:
                raise LinkUnresolved(f"more than {self.max_redirects} redirects")
            response = await self._get(link.url)
            if response.status_code not in REDIRECTS:
                return link  # no redirect: oEmbed gets the short link as it is
            location = response.headers.get("location", "")
            link = _allowed(urljoin(link.url, location), redirect=True)
            hops += 1
        return link

    async def _oembed(self, link: TikTokUrl) -> LinkInfo:
        response = await self._get(str(httpx.URL(self.endpoint, params={"url": link.url})))
        if response.status_code != 200:
            raise LinkUnresolved(f"oEmbed answered {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise LinkUnresolved("oEmbed answer is not JSON") from None
        if not isinstance(body, dict):
            raise LinkUnresolved("oEmbed answer is not a JSON object")
        return _info(link, body)

    async def _get(self, url: str) -> httpx.Response:
        """GET ``url`` at a checked address of its host (resolved once), no redirects."""
        target = httpx.URL(url)
        host = target.host
        try:
            addresses = await self.resolve(host)
        except OSError as exc:
            raise LinkUnresolved(f"cannot resolve {host}: {exc}") from None
        if not addresses:
            raise LinkUnresolved(f"{host} has no address")
        if not all(is_public_address(a) for a in addresses):
            raise LinkRefused(f"{host} resolves to a private or reserved address")
        pinned = target.copy_with(host=addresses[0])
        return await self.http.get(
            pinned,
            headers={"Host": target.netloc.decode("ascii"), "Accept": "application/json"},
            extensions={"sni_hostname": host},
            follow_redirects=False,
            timeout=self.timeout,
        )


def _allowed(raw: str, *, redirect: bool = False) -> TikTokUrl:
    try:
        return parse_tiktok_url(raw)
    except InvalidTikTokUrl as exc:
        where = "the short link redirects to a URL that is not allowed: " if redirect else ""
        raise LinkRefused(where + exc.reason) from None


def _is_short(link: TikTokUrl) -> bool:
    return link.host in SHORT_LINK_HOSTS or (link.short_code is not None and not link.video_id)


def _text(body: dict[str, Any], key: str, limit: int = 300) -> str | None:
    value = body.get(key)
    return value.strip()[:limit] or None if isinstance(value, str) else None


def _info(link: TikTokUrl, body: dict[str, Any]) -> LinkInfo:
    handle = _text(body, "author_unique_id", 64)
    thumbnail = _text(body, "thumbnail_url", 2048)
    return LinkInfo(
        url=link.url,
        caption=_text(body, "title", MAX_CAPTION_CHARS),
        author_handle=handle.lstrip("@").lower() if handle else link.handle,
        author_name=_text(body, "author_name"),
        thumbnail_url=thumbnail if thumbnail and thumbnail.startswith("https://") else None,
        video_id=_text(body, "embed_product_id", 32) or link.video_id,
    )
