from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from virtuna.engine.urls import TIKTOK_HOSTS, InvalidTikTokUrl, is_tiktok_url, parse_tiktok_url

VIDEO = "/@user/video/7380030792988216592"

HOSTILE = [
    "http://127.0.0.1/@user/video/7380030792988216592",
    "https://127.0.0.1" + VIDEO,
    "https://0x7f000001" + VIDEO,
    "https://2130706433" + VIDEO,
    "https://017700000001" + VIDEO,
    "https://[::1]" + VIDEO,
    "https://[::ffff:127.0.0.1]" + VIDEO,
    "http://169.254.169.254/latest/meta-data/",
    "https://10.0.0.1" + VIDEO,
    "https://tiktok.com.evil.com" + VIDEO,
    "https://evil.com/@tiktok.com/video/1234567",
    "https://user@tiktok.com@evil.com" + VIDEO,
    "https://user:pass@www.tiktok.com" + VIDEO,
    "https://www.tiktok.com@evil.com" + VIDEO,
    "http://",
    "https://",
    "https:///@user/video/7380030792988216592",
    "https://www.tiktok.com:8443" + VIDEO,
    "https://www.tiktok.com:443" + VIDEO,
    "https://www.tiktok.com:" + VIDEO,
    "file:///etc/passwd",
    "gopher://www.tiktok.com/_GET",
    "ftp://www.tiktok.com" + VIDEO,
    "javascript:alert(1)",
    "//www.tiktok.com" + VIDEO,
    "www.tiktok.com" + VIDEO,
    "https://www.tíktok.com" + VIDEO,
    "https://www.xn--tktok-lsa.com" + VIDEO,
    "https://www.tiktоk.com" + VIDEO,  # Cyrillic "о"
    "https://www.tiktok.com.\\@evil.com" + VIDEO,
    "https://www.tiktok.com\\@evil.com" + VIDEO,
    "https://evil.com\\@www.tiktok.com" + VIDEO,
    "https://www.tiktok.com" + VIDEO + " ",
    " https://www.tiktok.com" + VIDEO,
    "https://www.tiktok.com/@us er/video/7380030792988216592",
    "https://www.tiktok.com\t" + VIDEO,
    "https://www.tiktok.com\n" + VIDEO,
    "https://www.tiktok.com\x00" + VIDEO,
    "https://www.tiktok.com." + VIDEO,
    "https://tiktok.com.%65vil.com" + VIDEO,
    "https://%77ww.tiktok.com" + VIDEO,
    "https://evil.tiktok.com" + VIDEO,
    "https://nottiktok.com" + VIDEO,
    "https://www.tiktok.co" + VIDEO,
    "https://www.tiktok.com/" + "a" * 2100,
    "https://www.tiktok.com/@user/profile",
    "https://www.tiktok.com/",
    "https://vm.tiktok.com/",
    "https://vm.tiktok.com/../../etc/passwd",
    "",
]
CANONICAL = [
    "https://www.tiktok.com/@user/video/7380030792988216592",
    "https://vm.tiktok.com/ZMabc123/",
    "https://m.tiktok.com/v/123456789.html",
    "https://www.tiktok.com/@chensach.hanoi/video/7380030792988216592?is_from_webapp=1",
    "http://tiktok.com/@user/photo/7380030792988216592",
    "https://vt.tiktok.com/ZSabc123",
    "https://www.tiktok.com/t/ZTRabcd12/",
    "HTTPS://WWW.TIKTOK.COM/@User/video/7380030792988216592",
]


def test_the_hostile_table_is_large_enough() -> None:
    assert len(HOSTILE) >= 30


@pytest.mark.parametrize("url", HOSTILE)
def test_hostile_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidTikTokUrl):
        parse_tiktok_url(url)
    assert not is_tiktok_url(url)


@pytest.mark.parametrize("url", CANONICAL)
def test_canonical_links_are_accepted(url: str) -> None:
    parsed = parse_tiktok_url(url)
    assert parsed.host in TIKTOK_HOSTS
    assert parsed.url == url


def test_video_link_yields_handle_and_id() -> None:
    parsed = parse_tiktok_url("https://www.tiktok.com/@Chensach.Hanoi/video/7380030792988216592")
    assert (parsed.handle, parsed.video_id, parsed.short_code) == (
        "chensach.hanoi",
        "7380030792988216592",
        None,
    )


def test_short_links_yield_a_code_not_an_id() -> None:
    parsed = parse_tiktok_url("https://vm.tiktok.com/ZMabc123/")
    assert (parsed.video_id, parsed.short_code) == (None, "ZMabc123")
    assert parse_tiktok_url("https://m.tiktok.com/v/123456789.html").video_id == "123456789"


@given(st.text(max_size=300))
def test_any_accepted_text_has_an_allowlisted_host(text: str) -> None:
    if is_tiktok_url(text):
        split = urlsplit(text)
        assert split.hostname in TIKTOK_HOSTS
        assert split.port is None
        assert split.username is None


_HOSTS = st.sampled_from(
    [*TIKTOK_HOSTS, "evil.com", "127.0.0.1", "[::1]", "tiktok.com.evil.com", "0x7f000001"]
)
_PREFIX = st.sampled_from(["", "user@", "tiktok.com@", "a:b@"])
_PORT = st.sampled_from(["", ":80", ":8443", ":"])
_PATH = st.sampled_from(["/@user/video/1234567", "/ZMabc123/", "/v/12345.html", "/", "/@x"])


@given(st.sampled_from(["http", "https", "file", "gopher"]), _PREFIX, _HOSTS, _PORT, _PATH)
def test_composed_urls_are_accepted_only_when_every_part_is_safe(
    scheme: str, prefix: str, host: str, port: str, path: str
) -> None:
    url = f"{scheme}://{prefix}{host}{port}{path}"
    safe_parts = scheme in ("http", "https") and not prefix and not port
    if not (safe_parts and host in TIKTOK_HOSTS):
        assert not is_tiktok_url(url)
    if is_tiktok_url(url):
        assert urlsplit(url).hostname == host
