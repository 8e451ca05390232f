"""Deadlines, the single retry, Retry-After, fallback and the ledger (RELIABILITY_GOALS L2–L6)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.llm.conftest import caller_for, deepseek_on, gemini_on
from tests.llm.fake_servers import FakeLLMServer
from tests.llm.test_adapters import DRAFT
from virtuna.engine.errors import LLMUnavailable
from virtuna.engine.llm.breaker import BreakerPolicy, LocalBreakerStore
from virtuna.engine.llm.ledger import collect_calls, llm_deadline
from virtuna.engine.llm.provider import LLMProvider
from virtuna.engine.llm.roles import LLMContentAnalyzer

Servers = Callable[..., FakeLLMServer]


@pytest.mark.parametrize("status", ["500", "503"])
async def test_always_failing_provider_gets_at_most_two_attempts(
    servers: Servers, providers: list[LLMProvider], status: str
) -> None:
    """L3 and L6: ≤ 2 upstream attempts, and one ledger row per attempt the fake saw."""
    server = servers(mode=status)
    caller = caller_for("content", [await deepseek_on(server, providers)])
    with collect_calls() as calls, pytest.raises(LLMUnavailable, match=f"HTTP {status}"):
        await LLMContentAnalyzer(caller).analyze(DRAFT)
    assert len(server.seen) == 2
    assert [(c.outcome, c.http_status, c.attempt) for c in calls] == [
        ("http_error", int(status), 1),
        ("http_error", int(status), 2),
    ]


async def test_client_errors_are_not_retried(
    servers: Servers, providers: list[LLMProvider]
) -> None:
    server = servers(mode="402")  # DeepSeek: insufficient balance
    caller = caller_for("content", [await deepseek_on(server, providers)])
    with pytest.raises(LLMUnavailable, match="HTTP 402"):
        await LLMContentAnalyzer(caller).analyze(DRAFT)
    assert len(server.seen) == 1


async def test_retry_after_is_honoured_when_it_fits(
    servers: Servers, providers: list[LLMProvider]
) -> None:
    """L5: after a 429 with Retry-After: 2 the next attempt comes ≥ 2.0 s later."""
    server = servers(script=["429"], retry_after="2")
    caller = caller_for("content", [await gemini_on(server, providers)], budget=10)
    analysis = await LLMContentAnalyzer(caller).analyze(DRAFT)
    assert analysis.provider == "gemini"
    first, second = server.seen
    assert second.at - first.at >= 2.0


async def test_retry_after_beyond_the_budget_falls_back_at_once(
    servers: Servers, providers: list[LLMProvider]
) -> None:
    """L5: Retry-After: 300 > budget → no waiting, next provider answers."""
    limited, healthy = servers(mode="429", retry_after="300"), servers()
    chain: list[Any] = [await gemini_on(limited, providers), await deepseek_on(healthy, providers)]
    started = time.monotonic()
    with collect_calls() as calls:
        analysis = await LLMContentAnalyzer(caller_for("content", chain, budget=20)).analyze(DRAFT)
    assert time.monotonic() - started < 1.5
    assert analysis.provider == "deepseek"  # provenance: who really answered
    assert len(limited.seen) == 1
    assert [(c.provider, c.outcome) for c in calls] == [
        ("gemini", "http_error"),
        ("deepseek", "ok"),
    ]


@pytest.mark.parametrize("mode", ["hang", "trickle"])
async def test_total_deadline_stops_hangs_and_keepalive_trickles(
    servers: Servers, providers: list[LLMProvider], mode: str
) -> None:
    """L2: a provider trickling keep-alive newlines is cut at the deadline ± 0.5 s, then the
    next provider answers."""
    stuck, healthy = servers(mode=mode), servers()
    chain: list[Any] = [await deepseek_on(stuck, providers), await gemini_on(healthy, providers)]
    caller = caller_for("content", chain, timeout=1.0)
    started = time.monotonic()
    with collect_calls() as calls:
        analysis = await LLMContentAnalyzer(caller).analyze(DRAFT)
    elapsed = time.monotonic() - started
    assert 1.0 <= calls[0].latency_ms / 1000 <= 1.5
    assert elapsed < 3.0
    assert analysis.provider == "gemini"
    assert [c.outcome for c in calls] == ["timeout", "ok"]
    assert len(stuck.seen) == 1  # a hung provider is not retried


async def test_request_deadline_bounds_the_whole_chain(
    servers: Servers, providers: list[LLMProvider]
) -> None:
    """With 1.5 s left in the request, two hanging providers cost 1.5 s in total, not 2 × 5."""
    first, second = servers(mode="hang"), servers(mode="hang")
    chain: list[Any] = [await gemini_on(first, providers), await deepseek_on(second, providers)]
    caller = caller_for("content", chain, timeout=5.0)
    started = time.monotonic()
    with llm_deadline(1.5), pytest.raises(LLMUnavailable):
        await LLMContentAnalyzer(caller).analyze(DRAFT)
    assert time.monotonic() - started < 2.5


async def test_breaker_opens_then_lets_one_probe_through(
    servers: Servers, providers: list[LLMProvider]
) -> None:
    server = servers(mode="503")
    now = [0.0]
    store = LocalBreakerStore(clock=lambda: now[0])
    policy = BreakerPolicy(failure_threshold=2, cooldown_seconds=30, probe_ttl_seconds=60)
    provider = await deepseek_on(server, providers)
    analyzer = LLMContentAnalyzer(caller_for("content", [provider], store=store, policy=policy))
    for _ in range(2):  # a call (retry included) is one failure, not two: §8 item 8
        with pytest.raises(LLMUnavailable):
            await analyzer.analyze(DRAFT)
    assert len(server.seen) == 4
    with collect_calls() as calls, pytest.raises(LLMUnavailable, match="circuit open"):
        await analyzer.analyze(DRAFT)
    assert len(server.seen) == 4  # failed fast, nothing sent
    assert [c.outcome for c in calls] == ["breaker_open"]

    now[0] = 31.0  # cool-down over: half-open
    server.mode, server.delay = "ok", 0.3
    results = await asyncio.gather(
        *(analyzer.analyze(DRAFT) for _ in range(5)), return_exceptions=True
    )
    answered = [r for r in results if not isinstance(r, BaseException)]
    assert len(answered) == 1  # exactly one probe; the other callers failed fast
    assert len(server.seen) == 5
    await analyzer.analyze(DRAFT)  # probe succeeded: closed again
    assert len(server.seen) == 6
