"""Suite-wide fixtures: the shared real data and a guard against real network calls."""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TIKTOK_DATA = REPO_ROOT.parent / "shared" / "data" / "tiktok"


def _is_loopback(address: Any) -> bool:
    if isinstance(address, tuple) and address:
        host = str(address[0])
    elif isinstance(address, str | bytes):
        return True  # unix domain socket path
    else:
        return False
    if host in {"localhost", ""}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def _no_outbound_network() -> Iterator[None]:
    """Fail any connection to a non-loopback address: tests never reach the internet."""
    original = socket.socket.connect
    original_ex = socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            raise RuntimeError(f"outbound network call blocked in tests: {address!r}")
        return original(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            raise RuntimeError(f"outbound network call blocked in tests: {address!r}")
        return original_ex(self, address)

    socket.socket.connect = guarded_connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign,assignment]
    yield
    socket.socket.connect = original  # type: ignore[method-assign]
    socket.socket.connect_ex = original_ex  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    """A CLI test configures logging onto its runner's stream, which is closed afterwards:
    put the root logger back so later tests never write to a closed file."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers = handlers
    root.setLevel(level)  # clears the loggers' cached levels too


@pytest.fixture(scope="session")
def tiktok_data_dir() -> Path:
    """The real scraped TikTok sets in ../shared/data/tiktok (read-only)."""
    if not TIKTOK_DATA.is_dir():
        raise RuntimeError(f"shared TikTok data not found at {TIKTOK_DATA}")
    return TIKTOK_DATA
