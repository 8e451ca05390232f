"""Gemini watches uploads through the real google-genai SDK against the local fake: inline
bytes for small files, the Files API (resumable upload, PROCESSING → ACTIVE) for larger ones;
FAILED or a file that never becomes ACTIVE moves the chain to the next provider."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from time import perf_counter

import pytest

from tests.llm.conftest import GEMINI_PRICE, deepseek_on, gemini_on
from tests.llm.fake_servers import FakeLLMServer
from tests.media.videos import make_video
from virtuna.engine.errors import LLMUnavailable
from virtuna.engine.llm.breaker import BreakerPolicy, CircuitBreaker, LocalBreakerStore
from virtuna.engine.llm.caller import ChainLink, StructuredCaller
from virtuna.engine.llm.gemini import GeminiProvider
from virtuna.engine.llm.ledger import collect_calls
from virtuna.engine.llm.prompts import load_prompt
from virtuna.engine.llm.protocols import ContentRequest
from virtuna.engine.llm.provider import LLMProvider, VideoAttachment
from virtuna.engine.llm.roles import LLMContentAnalyzer

Servers = Callable[..., FakeLLMServer]


def request_for(video: Path) -> ContentRequest:
    attachment = VideoAttachment(str(video), "video/mp4", video.stat().st_size)
    return ContentRequest(
        "Wait for the flip #cooking", "video", "video_upload", "cooking", "en",
        ("cooking",), 3.0, str(video), attachment,
    )  # fmt: skip


def caller(
    links: list[tuple[LLMProvider, float, float | None]], budget: float = 10.0
) -> StructuredCaller:
    store, policy = LocalBreakerStore(), BreakerPolicy()
    chain = [
        ChainLink(p, CircuitBreaker(p.name, store, policy), timeout, video_timeout)
        for p, timeout, video_timeout in links
    ]
    return StructuredCaller("content", chain, load_prompt("content"), budget_seconds=budget)


async def files_api_gemini(server: FakeLLMServer, made: list[LLMProvider]) -> GeminiProvider:
    provider = GeminiProvider(
        api_key="test-gemini-key",
        model="gemini-3.5-flash",
        base_url=await server.start(),
        max_output_tokens=1024,
        pricing=GEMINI_PRICE,
        inline_video_max_bytes=1024,  # the test clip is larger: Files API
        file_poll_seconds=0.01,
    )
    made.append(provider)
    return provider


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return make_video(tmp_path / "clip.mp4", seconds=2.0)


async def test_small_video_goes_inline(
    servers: Servers, providers: list[LLMProvider], clip: Path
) -> None:
    server = servers()
    gemini = await gemini_on(server, providers)
    analyzer = LLMContentAnalyzer(caller([(gemini, 5.0, 10.0)]))
    with collect_calls() as calls:
        analysis = await analyzer.analyze(request_for(clip))
    assert analysis.video_seen
    (seen,) = server.seen
    assert seen.path.endswith(":generateContent")
    parts = seen.body["contents"][0]["parts"]
    inline = parts[0]["inlineData"]
    assert inline["mime_type"] == "video/mp4"
    assert base64.urlsafe_b64decode(inline["data"]) == clip.read_bytes()  # the SDK's alphabet
    assert "Wait for the flip" in parts[1]["text"]
    assert [(c.provider, c.role, c.outcome, c.input_tokens) for c in calls] == [
        ("gemini", "content", "ok", 1200)
    ]
    assert analysis.cost_cents == pytest.approx(0.45)


async def test_large_video_goes_through_the_files_api_until_active(
    servers: Servers, providers: list[LLMProvider], clip: Path
) -> None:
    server = servers(file_states=["PROCESSING", "PROCESSING", "ACTIVE"])
    gemini = await files_api_gemini(server, providers)
    analyzer = LLMContentAnalyzer(caller([(gemini, 5.0, 10.0)]))
    with collect_calls() as calls:
        analysis = await analyzer.analyze(request_for(clip))
    assert analysis.video_seen
    assert server.uploaded == {"files/f1": clip.read_bytes()}  # resumable upload, one finalize
    assert server.deleted == ["files/f1"]  # answered: the remote copy is deleted
    start = server.seen[0]
    assert start.path == "/upload/v1/files"
    assert start.headers["x-goog-upload-protocol"] == "resumable"
    assert start.headers["x-goog-upload-header-content-type"] == "video/mp4"
    assert server.file_polls == 3  # PROCESSING, PROCESSING, ACTIVE
    generate = next(s for s in server.seen if s.path.endswith(":generateContent"))
    file_data = generate.body["contents"][0]["parts"][0]["fileData"]
    assert file_data["file_uri"].endswith("/v1/files/f1")
    assert [(c.provider, c.outcome) for c in calls] == [("gemini", "ok")]  # one billed call


async def test_a_failed_file_moves_on_to_the_next_provider(
    servers: Servers, providers: list[LLMProvider], clip: Path
) -> None:
    google, backup = servers(file_states=["FAILED"]), servers()
    gemini = await files_api_gemini(google, providers)
    deepseek = await deepseek_on(backup, providers)
    analyzer = LLMContentAnalyzer(caller([(gemini, 5.0, 10.0), (deepseek, 5.0, None)]))
    with collect_calls() as calls:
        analysis = await analyzer.analyze(request_for(clip))
    assert analysis.provider == "deepseek"
    assert not analysis.video_seen  # the text-only model judged the caption alone
    assert not any(":generateContent" in s.path for s in google.seen)
    assert all(isinstance(m["content"], str) for m in backup.seen[0].body["messages"])
    assert [(c.provider, c.outcome, c.error_class) for c in calls] == [
        ("gemini", "bad_output", "VideoRejected"),
        ("deepseek", "ok", None),
    ]


async def test_a_file_stuck_processing_is_bounded_by_the_deadline(
    servers: Servers, providers: list[LLMProvider], clip: Path
) -> None:
    server = servers(file_states=["PROCESSING"])
    gemini = await files_api_gemini(server, providers)
    analyzer = LLMContentAnalyzer(caller([(gemini, 5.0, 30.0)], budget=1.0))
    started = perf_counter()
    with collect_calls() as calls, pytest.raises(LLMUnavailable):
        await analyzer.analyze(request_for(clip))
    assert perf_counter() - started < 3.0  # the 1 s budget, not the 30 s video timeout
    assert server.file_polls >= 2
    assert [(c.provider, c.outcome) for c in calls] == [("gemini", "timeout")]


async def test_retry_after_a_5xx_reuses_the_uploaded_file(
    servers: Servers, providers: list[LLMProvider], clip: Path
) -> None:
    server = servers(script=["503"], file_states=["ACTIVE"])
    gemini = await files_api_gemini(server, providers)
    analyzer = LLMContentAnalyzer(caller([(gemini, 5.0, 10.0)]))
    analysis = await analyzer.analyze(replace(request_for(clip)))
    assert analysis.video_seen
    assert server.count("/upload/v1/files") == 1  # uploaded once, polled again on retry
    assert server.count(":generateContent") == 2
    assert server.deleted == ["files/f1"]


async def test_a_repair_turn_uploads_again_after_the_copy_was_deleted(
    servers: Servers, providers: list[LLMProvider], clip: Path
) -> None:
    server = servers(script=["bad_json"], file_states=["ACTIVE"])
    gemini = await files_api_gemini(server, providers)
    analyzer = LLMContentAnalyzer(caller([(gemini, 5.0, 10.0)]))
    analysis = await analyzer.analyze(request_for(clip))
    assert analysis.video_seen
    assert server.count("/upload/v1/files") == 2
    assert server.deleted == ["files/f1", "files/f2"]
