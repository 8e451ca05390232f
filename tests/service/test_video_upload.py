"""S6 and the video_upload mode end to end: ``POST /api/analyze`` with multipart/form-data on
SQLite and PostgreSQL — measured signals feed the rules, the upload is deleted after the
analysis, 413 / 415 / 422 refusals, retention and the purge job, and Gemini watching it."""

from __future__ import annotations

import base64
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import IO, Any, cast

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.llm.fake_servers import FakeLLMServer
from tests.media.videos import make_video
from virtuna.api.app import create_app
from virtuna.config import Settings
from virtuna.jobs import JobContext
from virtuna.kit.web import get_session
from virtuna.media import multipart
from virtuna.media.tasks import purge_uploads
from virtuna.models import Analysis, LLMCall

MiB = 1024 * 1024
Opener = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def open_client(test_settings: Settings, session: AsyncSession, tmp_path: Path) -> Opener:
    """An API client on the test's session, with its own data dir and setting overrides."""

    @asynccontextmanager
    async def opener(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        values = test_settings.model_dump(by_alias=False) | {"data_dir": tmp_path, **overrides}
        app = create_app(Settings.model_validate(values))

        async def _session() -> AsyncIterator[AsyncSession]:
            yield session
            await session.commit()

        app.dependency_overrides[get_session] = _session
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                yield client

    return opener


def uploads(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "uploads"
    return sorted(folder.iterdir()) if folder.exists() else []


async def post_video(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    content: bytes,
    filename: str = "clip.mp4",
    **fields: str,
) -> httpx.Response:
    """The multipart body sent in 64 KiB pieces, as a network would deliver it."""
    request = client.build_request(
        "POST",
        "/api/analyze",
        headers=auth,
        data=fields,
        files={"video": (filename, content, "video/mp4")},
    )
    body = request.read()

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    headers = {**auth, "content-type": request.headers["content-type"]}
    return await client.post("/api/analyze", headers=headers, content=pieces())


async def test_upload_is_measured_scored_stored_and_deleted(
    open_client: Opener, auth: dict[str, str], session: AsyncSession, tmp_path: Path
) -> None:
    clip = make_video(tmp_path / "in.mp4", seconds=3.0, cut_times=(1.0, 2.0))
    async with open_client() as client:
        response = await post_video(
            client, auth, clip.read_bytes(), content_text="Wait for the flip #cooking"
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["input_mode"] == "video_upload"
    vector = body["feature_vector"]
    assert vector["rule.hook_cut_first_3s"] == 1.0  # two cuts in the first 3 s
    assert vector["rule.vertical_9_16"] == 1.0
    assert vector["rule.has_audio"] == 1.0
    assert vector["video.cuts_first_3s"] == 2.0
    assert vector["duration_seconds"] == 3.0  # the measured duration feeds the ML features
    assert body["signals"]["ml"]["available"]
    assert uploads(tmp_path) == []  # retention 0: gone once the analysis was stored
    row = await session.get(Analysis, uuid.UUID(body["id"]))
    assert row is not None
    assert row.input_mode == "video_upload"
    assert row.content_text == "Wait for the flip #cooking"


async def test_silent_upload_is_told_to_add_sound(
    open_client: Opener, auth: dict[str, str], tmp_path: Path
) -> None:
    clip = make_video(tmp_path / "in.mp4", tone_amplitude=None, cut_times=())
    async with open_client() as client:
        response = await post_video(client, auth, clip.read_bytes(), niche="cooking")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["feature_vector"]["rule.has_audio"] == 0.0
    assert body["feature_vector"]["rule.hook_cut_first_3s"] == 0.0
    sources = {s["text"].split(" ")[0]: s["source"] for s in body["suggestions"]}
    assert sources.get("Add") == "video"


async def test_limit_plus_one_byte_is_413_and_never_more_than_the_limit_on_disk(
    open_client: Opener,
    auth: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    largest: list[int] = [0]
    original = multipart._write_through

    def counting(file: IO[bytes], data: bytes) -> None:
        original(file, data)
        largest[0] = max(largest[0], os.fstat(file.fileno()).st_size)

    monkeypatch.setattr(multipart, "_write_through", counting)
    head = b"\x00\x00\x00\x20ftypisom" + b"\x00" * 52
    async with open_client(max_upload_mb=1) as client:
        over = await post_video(client, auth, head + b"\x01" * (MiB + 1 - len(head)))
        assert over.status_code == 413, over.text
        assert over.json()["error"]["code"] == "payload_too_large"
        assert 0 < largest[0] <= MiB
        assert uploads(tmp_path) == []  # the partial file is removed
        exact = await post_video(client, auth, head + b"\x01" * (MiB - len(head)))
    assert exact.status_code == 422, exact.text  # within the limit; just not decodable
    assert largest[0] == MiB
    assert uploads(tmp_path) == []


async def test_text_renamed_mp4_is_415_and_nothing_is_written(
    open_client: Opener, auth: dict[str, str], tmp_path: Path
) -> None:
    text = b"These are my notes for the next video, saved as notes.mp4 by mistake.\n" * 20
    async with open_client() as client:
        response = await post_video(client, auth, text, filename="notes.mp4")
    assert response.status_code == 415, response.text
    error = response.json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert error["details"][0]["field"] == "video"
    assert uploads(tmp_path) == []


async def test_video_over_the_duration_cap_is_422_naming_the_field(
    open_client: Opener, auth: dict[str, str], tmp_path: Path
) -> None:
    clip = make_video(tmp_path / "in.mp4", seconds=3.0, tone_amplitude=None)
    async with open_client(max_video_seconds=2.0) as client:
        response = await post_video(client, auth, clip.read_bytes())
    assert response.status_code == 422, response.text
    (detail,) = response.json()["error"]["details"]
    assert detail["field"] == "video"
    assert "limit is 2 s" in detail["message"]
    assert uploads(tmp_path) == []


async def test_form_fields_are_validated_like_a_draft(
    open_client: Opener, auth: dict[str, str], tmp_path: Path
) -> None:
    clip = make_video(tmp_path / "in.mp4", tone_amplitude=None).read_bytes()
    async with open_client() as client:
        bad_handle = await post_video(client, auth, clip, creator_handle="no spaces!")
        server_field = await post_video(client, auth, clip, video_path="/etc/passwd")
        wrong_mode = await post_video(client, auth, clip, input_mode="text")
        no_file = await client.post("/api/analyze", headers=auth, files={"niche": (None, "x")})
        no_key = await post_video(client, {}, clip)
    assert bad_handle.status_code == 422
    assert bad_handle.json()["error"]["details"][0]["field"] == "creator_handle"
    assert server_field.status_code == 422
    assert server_field.json()["error"]["details"][0]["field"] == "video_path"
    assert wrong_mode.status_code == 422
    assert wrong_mode.json()["error"]["details"][0]["field"] == "input_mode"
    assert no_file.status_code == 422
    assert no_file.json()["error"]["details"][0]["field"] == "video"
    assert no_key.status_code == 401
    assert uploads(tmp_path) == []


async def test_json_clients_cannot_supply_measured_signals(
    open_client: Opener, auth: dict[str, str]
) -> None:
    measured = {"duration_seconds": 15, "width": 1080, "height": 1920, "has_audio": True}
    draft = {
        "input_mode": "video_upload",
        "video_path": "/etc/passwd",
        "content_text": "hi",
        "video": measured,
    }
    async with open_client() as client:
        single = await client.post("/api/analyze", headers=auth, json=draft)
        batch = await client.post("/api/analyze/batch", headers=auth, json={"drafts": [draft]})
        plain = await client.post(
            "/api/analyze", headers=auth, json={"input_mode": "text", "content_text": "hi"}
        )
    assert single.status_code == 422
    assert single.json()["error"]["details"] == [
        {"field": "video", "message": "Extra inputs are not permitted"}
    ]
    assert batch.status_code == 422
    assert batch.json()["error"]["details"][0]["field"] == "drafts.0.video"
    assert plain.status_code == 200  # the JSON body works as before


async def test_retention_keeps_the_upload_until_the_purge_job(
    open_client: Opener, auth: dict[str, str], tmp_path: Path, test_settings: Settings
) -> None:
    clip = make_video(tmp_path / "in.mp4", tone_amplitude=None)
    async with open_client(upload_retention_hours=2) as client:
        response = await post_video(client, auth, clip.read_bytes())
    assert response.status_code == 200, response.text
    (kept,) = uploads(tmp_path)
    assert kept.read_bytes() == clip.read_bytes()
    settings = test_settings.model_copy(update={"data_dir": tmp_path, "upload_retention_hours": 2})
    ctx = JobContext(
        settings=settings, sessions=cast(Any, None), http=cast(Any, None), jobs=cast(Any, None)
    )
    assert await purge_uploads(ctx) == {"status": "ok", "deleted": 0}  # younger than 2 h
    old = time.time() - 3 * 3600
    os.utime(kept, (old, old))
    assert await purge_uploads(ctx) == {"status": "ok", "deleted": 1}
    assert uploads(tmp_path) == []


async def test_gemini_watches_the_upload_and_the_calls_are_ledgered(
    open_client: Opener, auth: dict[str, str], session: AsyncSession, tmp_path: Path
) -> None:
    gemini, deepseek = FakeLLMServer(), FakeLLMServer()
    clip = make_video(tmp_path / "in.mp4", seconds=2.0)
    try:
        async with open_client(
            gemini_api_key="test-gemini",
            gemini_base_url=await gemini.start(),
            deepseek_api_key="test-deepseek",
            deepseek_base_url=await deepseek.start(),
        ) as client:
            response = await post_video(client, auth, clip.read_bytes(), content_text="Flip!")
    finally:
        await gemini.close()
        await deepseek.close()
    assert response.status_code == 200, response.text
    body = response.json()
    assert "gemini:gemini-3.5-flash@content.v1" in body["providers"]
    assert not any("watched the video" in w or "not analysed" in w for w in body["warnings"])
    content = next(s for s in gemini.seen if "(ContentOut)" in s.text)
    inline = content.body["contents"][0]["parts"][0]["inlineData"]
    assert base64.urlsafe_b64decode(inline["data"]) == clip.read_bytes()
    rows = list(
        await session.scalars(select(LLMCall).where(LLMCall.analysis_id == uuid.UUID(body["id"])))
    )
    assert ("content", "gemini", "ok") in {(r.role, r.provider, r.outcome) for r in rows}
    assert len(rows) == len(gemini.seen) + len(deepseek.seen)
    assert body["cost_cents"] == pytest.approx(sum(r.cost_cents for r in rows))
    assert uploads(tmp_path) == []
