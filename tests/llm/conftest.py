"""Fixtures: fake LLM servers on 127.0.0.1 and real-SDK providers pointed at them."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable, Sequence

import pytest

from tests.llm.fake_servers import FakeLLMServer
from virtuna.engine.llm.breaker import BreakerPolicy, CircuitBreaker, LocalBreakerStore
from virtuna.engine.llm.caller import ChainLink, StructuredCaller
from virtuna.engine.llm.gemini import GeminiProvider
from virtuna.engine.llm.openai_compat import OpenAICompatProvider
from virtuna.engine.llm.prompts import load_prompt
from virtuna.engine.llm.provider import LLMProvider, Pricing, Role

GEMINI_PRICE = Pricing(1.50, 1.50, 9.00)
DEEPSEEK_PRICE = Pricing(0.15, 0.003, 0.60)  # no peak hours: costs independent of the clock


@pytest.fixture
async def servers() -> AsyncIterator[Callable[..., FakeLLMServer]]:
    started: list[FakeLLMServer] = []

    def make(**kwargs: object) -> FakeLLMServer:
        server = FakeLLMServer(**kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server

    yield make
    for server in started:
        await server.close()
    gc.collect()  # surface unclosed sockets in the test that leaked them


@pytest.fixture
async def providers() -> AsyncIterator[list[LLMProvider]]:
    """Providers built in a test; closed afterwards."""
    made: list[LLMProvider] = []
    yield made
    for provider in made:
        await provider.aclose()


async def gemini_on(server: FakeLLMServer, made: list[LLMProvider]) -> GeminiProvider:
    provider = GeminiProvider(
        api_key="test-gemini-key",
        model="gemini-3.5-flash",
        base_url=await server.start(),
        max_output_tokens=1024,
        pricing=GEMINI_PRICE,
    )
    made.append(provider)
    return provider


async def deepseek_on(server: FakeLLMServer, made: list[LLMProvider]) -> OpenAICompatProvider:
    provider = OpenAICompatProvider(
        name="deepseek",
        api_key="test-deepseek-key",
        base_url=await server.start(),
        model="deepseek-flash",
        max_output_tokens=1024,
        json_mode="json_object",
        extra_body={"thinking": {"type": "disabled"}},
        pricing=DEEPSEEK_PRICE,
    )
    made.append(provider)
    return provider


def caller_for(
    role: Role,
    chain: Sequence[LLMProvider],
    *,
    timeout: float = 5.0,
    budget: float = 10.0,
    store: LocalBreakerStore | None = None,
    policy: BreakerPolicy | None = None,
) -> StructuredCaller:
    store = store or LocalBreakerStore()
    policy = policy or BreakerPolicy()
    links = [ChainLink(p, CircuitBreaker(p.name, store, policy), timeout) for p in chain]
    return StructuredCaller(role, links, load_prompt(role), budget_seconds=budget)
