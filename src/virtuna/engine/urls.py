"""TikTok link validation: the only URLs a draft may carry (reliability row S5, SSRF).

Pure string logic on purpose: no DNS, no sockets. The URL is parsed by hand *and* re-checked
with ``urllib.parse`` so that the two parsers must agree; any disagreement (the classic source
of SSRF bypasses such as ``user@tiktok.com@evil.com`` or backslash tricks) is a rejection.

Accepted: ``http``/``https`` URLs whose host is exactly one of ``TIKTOK_HOSTS`` (no port, no
userinfo, ASCII only, so punycode/IDN look-alikes and IP literals can never match), at most
2,048 characters, whose path looks like a video link (``/@handle/video/<id>``,
``/@handle/photo/<id>``, ``/v/<id>.html``, ``/t/<code>`` or a short code on vm./vt.).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

TIKTOK_HOSTS: frozenset[str] = frozenset(
    {"tiktok.com", "www.tiktok.com", "m.tiktok.com", "vm.tiktok.com", "vt.tiktok.com"}
)
SHORT_LINK_HOSTS: frozenset[str] = frozenset({"vm.tiktok.com", "vt.tiktok.com"})
MAX_URL_LENGTH = 2048

_SCHEME = re.compile(r"\A(https?)://", re.IGNORECASE)
# Printable ASCII minus space and backslash: whitespace, controls, non-ASCII are all refused.
_SAFE_CHARS = re.compile(r"\A[\x21-\x5b\x5d-\x7e]+\Z")
_VIDEO_PATH = re.compile(
    r"\A/@(?P<handle>[A-Za-z0-9._]{1,24})/(?:video|photo)/(?P<id>\d{5,25})/?\Z"
)
_V_PATH = re.compile(r"\A/v/(?P<id>\d{5,25})(?:\.html)?/?\Z")
_T_PATH = re.compile(r"\A/t/(?P<code>[A-Za-z0-9]{4,32})/?\Z")
_SHORT_PATH = re.compile(r"\A/(?P<code>[A-Za-z0-9]{4,32})/?\Z")


class InvalidTikTokUrl(ValueError):
    """The URL is not an acceptable TikTok video link; ``reason`` is user-facing."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class TikTokUrl:
    url: str  # as given (validated), not rewritten: the service fetches exactly this
    host: str
    handle: str | None  # lowercase, without "@", when the path names the creator
    video_id: str | None
    short_code: str | None  # vm./vt./t/ links name a redirect code, not a video id


def parse_tiktok_url(raw: str) -> TikTokUrl:
    """Validate ``raw`` and extract what the path tells us; raise ``InvalidTikTokUrl``."""
    if not raw:
        raise InvalidTikTokUrl("URL is empty")
    if len(raw) > MAX_URL_LENGTH:
        raise InvalidTikTokUrl(f"URL is longer than {MAX_URL_LENGTH} characters")
    if not _SAFE_CHARS.match(raw):
        raise InvalidTikTokUrl(
            "URL contains whitespace, control, non-ASCII or backslash characters"
        )
    scheme_match = _SCHEME.match(raw)
    if scheme_match is None:
        raise InvalidTikTokUrl("only http(s) URLs are accepted")
    rest = raw[scheme_match.end() :]
    authority, path, _ = _split_authority(rest)
    if "@" in authority:
        raise InvalidTikTokUrl("URL must not contain credentials")
    if ":" in authority or "[" in authority:
        raise InvalidTikTokUrl("URL must not name a port or an IP address")
    host = authority.lower()
    if host not in TIKTOK_HOSTS:
        raise InvalidTikTokUrl("host must be tiktok.com, www./m./vm./vt.tiktok.com")
    _cross_check(raw, host)
    return _parse_path(raw, host, path)


def check_tiktok_url(value: str | None) -> str | None:
    """A pydantic field validator's body: ``value`` unchanged if it is an acceptable TikTok
    link (or absent), else ``ValueError`` carrying the user-facing reason."""
    if value is None:
        return None
    try:
        parse_tiktok_url(value)
    except InvalidTikTokUrl as exc:
        raise ValueError(exc.reason) from exc
    return value


def is_tiktok_url(raw: str) -> bool:
    try:
        parse_tiktok_url(raw)
    except InvalidTikTokUrl:
        return False
    return True


def _split_authority(rest: str) -> tuple[str, str, str]:
    end = len(rest)
    for sep in "/?#":
        index = rest.find(sep)
        if index != -1:
            end = min(end, index)
    authority, tail = rest[:end], rest[end:]
    path = tail
    for sep in "?#":
        index = path.find(sep)
        if index != -1:
            path = path[:index]
    return authority, path, tail[len(path) :]


def _cross_check(raw: str, host: str) -> None:
    """Refuse anything where the standard library would see a different host or a port."""
    try:
        split = urlsplit(raw)
        port = split.port
    except ValueError as exc:
        raise InvalidTikTokUrl("URL cannot be parsed") from exc
    if split.hostname != host or port is not None or split.username or split.password:
        raise InvalidTikTokUrl("URL is ambiguous")


def _parse_path(raw: str, host: str, path: str) -> TikTokUrl:
    if host in SHORT_LINK_HOSTS:
        short = _SHORT_PATH.match(path)
        if short is None:
            raise InvalidTikTokUrl("short link must look like https://vm.tiktok.com/<code>/")
        return TikTokUrl(raw, host, None, None, short["code"])
    if video := _VIDEO_PATH.match(path):
        return TikTokUrl(raw, host, video["handle"].lower(), video["id"], None)
    if v_link := _V_PATH.match(path):
        return TikTokUrl(raw, host, None, v_link["id"], None)
    if t_link := _T_PATH.match(path):
        return TikTokUrl(raw, host, None, None, t_link["code"])
    raise InvalidTikTokUrl("URL is not a TikTok video link")
