"""`virtuna analyze --url`: the link is resolved through oEmbed as the API does (fake network:
no test reaches TikTok), refused links are a one-line usage error and store nothing."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.videos.fake_net import CANONICAL, OEMBED, Net, oembed, redirect
from virtuna.cli import analyze as cli_analyze
from virtuna.cli.app import app
from virtuna.config import Settings, get_settings
from virtuna.videos.oembed import OEmbedClient, is_public_address

runner = CliRunner()
SHORT = "https://vm.tiktok.com/ZMabc123/"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("VIRTUNA_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("VIRTUNA_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "var"
    get_settings.cache_clear()


def install(monkeypatch: pytest.MonkeyPatch, net: Net) -> None:
    def fake(_: httpx.AsyncClient, settings: Settings) -> OEmbedClient:
        return net.client(max_redirects=settings.tiktok_max_redirects)

    monkeypatch.setattr(cli_analyze, "oembed_client", fake)


def stored(data_dir: Path) -> list[tuple[str | None, str | None]]:
    with sqlite3.connect(data_dir / "virtuna.db") as db:
        return list(db.execute("SELECT content_text, creator_handle FROM analyses"))


def test_url_draft_is_filled_from_oembed(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net = Net({"vm.tiktok.com": redirect(CANONICAL), "www.tiktok.com": oembed})
    install(monkeypatch, net)
    result = runner.invoke(app, ["analyze", "--url", SHORT, "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout.strip().splitlines()[-1])
    assert not any("could not be resolved" in w for w in body["warnings"])
    assert stored(data_dir) == [(OEMBED["title"], "glowlab.daily")]
    assert len(net.requests) == 2


def test_url_to_a_private_address_is_refused(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = Net({"vm.tiktok.com": redirect("http://10.0.0.1/latest/meta-data")})
    install(monkeypatch, net)
    result = runner.invoke(app, ["analyze", "--url", SHORT])
    assert result.exit_code == 2
    assert "tiktok_url refused" in result.output
    assert "Traceback" not in result.output
    assert all(is_public_address(a) for a in net.connected)
    assert not (data_dir / "virtuna.db").exists() or stored(data_dir) == []


def test_unresolvable_url_is_scored_with_a_warning(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(monkeypatch, Net({"www.tiktok.com": lambda _: httpx.Response(503)}))
    result = runner.invoke(app, ["analyze", "--url", CANONICAL, "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout.strip().splitlines()[-1])
    assert any("could not be resolved" in w for w in body["warnings"])
    assert len(stored(data_dir)) == 1  # scored and stored from the fields given
