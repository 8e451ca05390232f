"""One worker process for the L4 test: the real adapters (google-genai, openai) behind the
real caller and a Redis-backed breaker, calling a fake server in a loop.

    python -m tests.llm.breaker_worker BASE_URL REDIS_URL PREFIX START_AT SECONDS COOLDOWN

Waits until ``START_AT`` (epoch seconds) so every worker races at once, then keeps four
callers per provider busy for ``SECONDS``; prints one JSON line with what it saw.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter

from virtuna.engine.errors import LLMError
from virtuna.engine.llm.breaker import BreakerPolicy, CircuitBreaker, RedisBreakerStore
from virtuna.engine.llm.caller import ChainLink, StructuredCaller
from virtuna.engine.llm.gemini import GeminiProvider
from virtuna.engine.llm.openai_compat import OpenAICompatProvider
from virtuna.engine.llm.prompts import load_prompt
from virtuna.engine.llm.provider import LLMProvider, Pricing
from virtuna.engine.llm.schemas import ContentOut

PRICE = Pricing(1.0, 1.0, 1.0)
VALUES = {
    "text": "A draft",
    "content_type": "video",
    "input_mode": "text",
    "niche": "beauty",
    "language": "en",
    "hashtags": "",
    "duration": "unknown",
}


def providers(base_url: str) -> list[LLMProvider]:
    gemini = GeminiProvider(
        api_key="k", model="gemini-3.5-flash", base_url=base_url, max_output_tokens=256,
        pricing=PRICE,
    )  # fmt: skip
    deepseek = OpenAICompatProvider(
        name="deepseek", api_key="k", base_url=base_url, model="deepseek-flash",
        max_output_tokens=256, json_mode="json_object", pricing=PRICE,
    )  # fmt: skip
    return [gemini, deepseek]


async def main(base_url: str, redis_url: str, prefix: str, start_at: float, seconds: float,
               cooldown: float) -> None:  # fmt: skip
    store = RedisBreakerStore(redis_url, prefix=prefix)
    policy = BreakerPolicy(failure_threshold=2, cooldown_seconds=cooldown, probe_ttl_seconds=10)
    made = providers(base_url)
    callers = [
        StructuredCaller(
            "content",
            [ChainLink(p, CircuitBreaker(p.name, store, policy), 2.0)],
            load_prompt("content"),
            budget_seconds=3.0,
            max_retries=0,  # one upstream request per probe, so the fake counts probes
        )
        for p in made
    ]
    outcomes: Counter[str] = Counter()
    await asyncio.sleep(max(0.0, start_at - time.time()))
    began = time.time()  # later than start_at when the machine is busy
    stop = time.monotonic() + seconds

    async def loop(caller: StructuredCaller) -> None:
        while time.monotonic() < stop:
            try:
                await caller.call(VALUES, ContentOut)
                outcomes["ok"] += 1
            except LLMError:
                outcomes["failed"] += 1
            await asyncio.sleep(0.02)

    await asyncio.gather(*(loop(c) for c in callers for _ in range(4)))
    ended = time.time()
    for provider in made:
        await provider.aclose()
    await store.aclose()
    print(json.dumps({**outcomes, "began": began, "ended": ended}))  # noqa: T201 - for the parent


if __name__ == "__main__":
    url, redis_url, prefix, start, secs, cool = sys.argv[1:7]
    asyncio.run(main(url, redis_url, prefix, float(start), float(secs), float(cool)))
