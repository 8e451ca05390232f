"""TikTok link resolution through oEmbed, SSRF-guarded (S5): short links followed by hand
within the allowlist, every host resolved once and checked, requests sent to the checked
address. ``httpx.MockTransport`` records every request the client makes (its URL host is
the address it would connect to); a fake resolver answers DNS."""

from __future__ import annotations

import httpx
import pytest

from tests.videos.fake_net import CANONICAL, OEMBED, PUBLIC, Net, oembed, redirect
from virtuna.videos.oembed import LinkRefused, LinkUnresolved, OEmbedClient, is_public_address


async def test_canonical_link_reads_oembed_at_the_checked_address() -> None:
    net = Net({"www.tiktok.com": oembed})
    info = await net.client().lookup(CANONICAL)
    assert info.caption == OEMBED["title"]
    assert (info.author_handle, info.author_name) == ("glowlab.daily", "GlowLab")
    assert info.thumbnail_url == OEMBED["thumbnail_url"]
    assert info.video_id == "7571234567890123456"
    (request,) = net.requests
    assert request.url.host == PUBLIC["www.tiktok.com"]  # connected to the checked address
    assert request.headers["host"] == "www.tiktok.com"
    assert request.extensions["sni_hostname"] == "www.tiktok.com"  # TLS still checks the name
    assert request.url.params["url"] == CANONICAL


async def test_short_link_is_followed_within_the_allowlist() -> None:
    net = Net(
        {
            "vm.tiktok.com": redirect("https://vt.tiktok.com/ZSabc123/", 301),
            "vt.tiktok.com": redirect(CANONICAL + "?_r=1&_t=8abc"),
            "www.tiktok.com": oembed,
        }
    )
    info = await net.client().lookup("https://vm.tiktok.com/ZMabc123/")
    assert info.url == CANONICAL + "?_r=1&_t=8abc"
    assert info.author_handle == "glowlab.daily"
    assert net.lookups == ["vm.tiktok.com", "vt.tiktok.com", "www.tiktok.com"]
    assert all(is_public_address(a) for a in net.connected)


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/",
        "https://10.0.0.1/@a/video/1234567890",
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:8080/",
        "https://tiktok.com.evil.com/@a/video/1234567890",
        "https://evil.com/@tiktok.com",
        "https://user@tiktok.com@evil.com/@a/video/1234567890",
        "file:///etc/passwd",
        "gopher://www.tiktok.com/_",
        "https://www.tiktok.com:8443/@a/video/1234567890",
        "https://[::1]/",
    ],
)
async def test_redirect_leaving_the_allowlist_is_refused(target: str) -> None:
    """S5: vm.tiktok.com -> 302 -> 10.0.0.1 (and friends): refused, never requested."""
    net = Net({"vm.tiktok.com": redirect(target)})
    with pytest.raises(LinkRefused, match="redirects to a URL that is not allowed"):
        await net.client().lookup("https://vm.tiktok.com/ZMabc123/")
    assert net.connected == [PUBLIC["vm.tiktok.com"]]  # only the allowed first hop


@pytest.mark.parametrize(
    "answer",
    ["10.0.0.1", "127.0.0.1", "169.254.169.254", "192.168.1.5", "100.64.0.1", "0.0.0.0",
     "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "224.0.0.1", "198.18.0.1",
     ["151.101.2.11", "10.0.0.1"]],
)  # fmt: skip
async def test_host_resolving_to_a_private_address_is_refused(answer: str | list[str]) -> None:
    net = Net({}, dns={"vm.tiktok.com": [answer] if isinstance(answer, list) else answer})
    with pytest.raises(LinkRefused, match="private or reserved"):
        await net.client().lookup("https://vm.tiktok.com/ZMabc123/")
    assert net.requests == []  # zero outbound connects


async def test_dns_answer_flipping_to_private_is_never_connected() -> None:
    """Resolved once per hop, checked, and that address used: a second, private answer for
    the same name is never seen; a flip before the next hop refuses that hop."""
    flips = {"vm.tiktok.com": ["151.101.2.11", "10.0.0.1"],
             "www.tiktok.com": ["10.0.0.2", "151.101.2.10"]}  # fmt: skip
    net = Net({"vm.tiktok.com": redirect(CANONICAL)}, dns=flips)
    with pytest.raises(LinkRefused):
        await net.client().lookup("https://vm.tiktok.com/ZMabc123/")
    assert net.connected == ["151.101.2.11"]
    assert all(is_public_address(a) for a in net.connected)


async def test_redirects_beyond_the_limit_leave_the_link_unresolved() -> None:
    net = Net({"vm.tiktok.com": redirect("https://vm.tiktok.com/ZMloop1/")})
    with pytest.raises(LinkUnresolved, match="more than 2 redirects"):
        await net.client(max_redirects=2).lookup("https://vm.tiktok.com/ZMabc123/")
    assert len(net.requests) == 2


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(404, json={"code": 400, "message": "Something went wrong"}),
        httpx.Response(500, text="oops"),
        httpx.Response(429, headers={"retry-after": "5"}),
        httpx.Response(200, text="<html>not json</html>"),
        httpx.Response(200, json=["a", "list"]),
    ],
)
async def test_oembed_failures_leave_the_link_unresolved(answer: httpx.Response) -> None:
    net = Net({"www.tiktok.com": lambda _: answer})
    with pytest.raises(LinkUnresolved):
        await net.client().lookup(CANONICAL)


async def test_dns_failure_and_network_errors_leave_the_link_unresolved() -> None:
    net = Net({}, dns={"www.tiktok.com": None})
    del net.dns["www.tiktok.com"]
    with pytest.raises(LinkUnresolved, match="cannot resolve"):
        await net.client().lookup(CANONICAL)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(LinkUnresolved, match="ConnectError"):
        await Net({"www.tiktok.com": refuse}).client().lookup(CANONICAL)


async def test_a_hanging_oembed_is_cut_at_the_timeout() -> None:
    import asyncio

    class Slow(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            await asyncio.sleep(30)
            return httpx.Response(200, json=OEMBED)

    client = OEmbedClient(httpx.AsyncClient(transport=Slow()), resolve=Net({}).resolve, timeout=0.2)
    with pytest.raises(LinkUnresolved, match="no answer within 0.2s"):
        await client.lookup(CANONICAL)


HOSTILE = [
    "http://127.0.0.1/", "http://[::1]/", "http://0x7f000001/", "http://2130706433/",
    "http://169.254.169.254/latest/meta-data/", "https://tiktok.com.evil.com/@a/video/12345",
    "https://evil.com/@tiktok.com", "https://user@tiktok.com@evil.com/",
    "http://", "https://www.tiktok.com:8443/@a/video/12345", "file:///etc/passwd",
    "gopher://www.tiktok.com/", "https://www.tіktok.com/@a/video/12345",  # Cyrillic i
    "https://xn--tktok-4ve.com/@a/video/12345", "https://www.tiktok.com\\@evil.com/",
    "https://www.tiktok.com/@a/video/12345 https://evil.com", "ftp://www.tiktok.com/",
    "https://www.tiktok.com.", "https://WWW.TIKTOK.COM@evil.com/", "javascript:alert(1)",
    "https://www.tiktok.com/../../etc/passwd", "https://vm.tiktok.com/",
    "https://10.0.0.1/@a/video/12345", "//www.tiktok.com/@a/video/12345", "",
    "https://www.tiktok.com@169.254.169.254/", "https://0177.0.0.1/",
    "https://www.tiktok.com%2f@evil.com/", "https://m.tiktok.com/v/abc.html",
    "https://vm.tiktok.com/ZM abc/",
]  # fmt: skip


def test_the_hostile_table_has_at_least_30_rows() -> None:
    assert len(set(HOSTILE)) >= 30


@pytest.mark.parametrize("raw", HOSTILE)
async def test_hostile_inputs_are_refused_without_a_connect(raw: str) -> None:
    net = Net({})
    with pytest.raises(LinkRefused):
        await net.client().lookup(raw)
    assert net.requests == []
    assert net.lookups == []
