"""Language-model roles for the engine, built from settings (plain values go into the engine).

Providers without credentials are skipped, so with no keys the engine is built exactly as
before (offline, honestly labelled). Only ``OPENAI_COMPAT_BASE_URL`` set gives privacy mode:
every role runs on the self-hosted server. The built roles are cached per ``Settings`` object,
so an engine rebuilt for a model hot-reload keeps its HTTP pools and breaker state;
``llm_hook`` closes them when the app stops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog

from virtuna.config import Settings
from virtuna.engine.llm.breaker import (
    BreakerPolicy,
    BreakerStore,
    CircuitBreaker,
    LocalBreakerStore,
    RedisBreakerStore,
)
from virtuna.engine.llm.caller import ChainLink, StructuredCaller
from virtuna.engine.llm.gemini import GeminiProvider
from virtuna.engine.llm.ledger import CallRecord
from virtuna.engine.llm.openai_compat import OpenAICompatProvider
from virtuna.engine.llm.prompts import load_prompt
from virtuna.engine.llm.provider import DEEPSEEK_PEAK_HOURS_UTC, LLMProvider, Pricing, Role
from virtuna.engine.llm.roles import LLMContentAnalyzer, LLMReasoner, LLMSemanticEvaluator
from virtuna.engine.pipeline import StageTimeouts
from virtuna.kit.metrics import record_llm_call, set_breaker
from virtuna.kit.web import AppState

log = structlog.get_logger("virtuna.predictions")


@dataclass
class LLMSetup:
    settings: Settings
    providers: dict[str, LLMProvider]
    timeouts: dict[str, float]
    store: BreakerStore
    breakers: dict[str, CircuitBreaker] = field(default_factory=dict)

    def chain(self, names: list[str]) -> list[ChainLink]:
        video = {"gemini": self.settings.gemini_video_timeout_seconds}
        return [
            ChainLink(self.providers[n], self.breakers[n], self.timeouts[n], video.get(n))
            for n in names
            if n in self.providers
        ]

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
        await self.store.aclose()


_setups: list[LLMSetup] = []


def _gemini(s: Settings, key: str) -> LLMProvider:
    return GeminiProvider(
        api_key=key,
        model=s.gemini_model,
        base_url=s.gemini_base_url,
        max_output_tokens=s.gemini_max_output_tokens,
        inline_video_max_bytes=int(s.gemini_inline_video_max_mb * 1024 * 1024),
        file_poll_seconds=s.gemini_file_poll_seconds,
        pricing=Pricing(
            s.gemini_price_input_per_m,
            s.gemini_price_cached_input_per_m,
            s.gemini_price_output_per_m,
        ),
    )


def _deepseek(s: Settings, key: str) -> LLMProvider:
    return OpenAICompatProvider(
        name="deepseek",
        api_key=key,
        base_url=s.deepseek_base_url,
        model=s.deepseek_model,
        max_output_tokens=s.deepseek_max_output_tokens,
        # DeepSeek has JSON-object mode only, and thinks by default: off for scoring.
        json_mode="json_object",
        extra_body={"thinking": {"type": "disabled"}},
        pricing=Pricing(
            s.deepseek_price_input_per_m,
            s.deepseek_price_cached_input_per_m,
            s.deepseek_price_output_per_m,
            peak_multiplier=s.deepseek_peak_multiplier,
            peak_hours_utc=DEEPSEEK_PEAK_HOURS_UTC,
        ),
    )


def _openai_compat(s: Settings, base_url: str, model: str) -> LLMProvider:
    key = s.openai_compat_api_key
    return OpenAICompatProvider(
        name="openai_compat",
        api_key=key.get_secret_value() if key is not None else None,
        base_url=base_url,
        model=model,
        max_output_tokens=s.openai_compat_max_output_tokens,
        json_mode=s.openai_compat_json_mode,
        pricing=Pricing(
            s.openai_compat_price_input_per_m,
            s.openai_compat_price_cached_input_per_m,
            s.openai_compat_price_output_per_m,
        ),
    )


def build_providers(settings: Settings) -> tuple[dict[str, LLMProvider], dict[str, float]]:
    """Every provider with credentials (or, for a self-hosted server, a URL and model)."""
    s = settings
    providers: dict[str, LLMProvider] = {}
    if s.gemini_api_key is not None:
        providers["gemini"] = _gemini(s, s.gemini_api_key.get_secret_value())
    if s.deepseek_api_key is not None:
        providers["deepseek"] = _deepseek(s, s.deepseek_api_key.get_secret_value())
    if s.openai_compat_base_url and s.openai_compat_model:
        providers["openai_compat"] = _openai_compat(
            s, s.openai_compat_base_url, s.openai_compat_model
        )
    timeouts = {
        "gemini": s.gemini_timeout_seconds,
        "deepseek": s.deepseek_timeout_seconds,
        "openai_compat": s.openai_compat_timeout_seconds,
    }
    return providers, timeouts


def llm_setup(settings: Settings) -> LLMSetup | None:
    """The providers for these settings (cached), or None when none is configured."""
    for setup in _setups:
        if setup.settings is settings:
            return setup
    providers, timeouts = build_providers(settings)
    if not providers:
        return None
    store: BreakerStore = (
        RedisBreakerStore(settings.redis_url) if settings.redis_url else LocalBreakerStore()
    )
    policy = BreakerPolicy(
        failure_threshold=settings.llm_breaker_threshold,
        cooldown_seconds=settings.llm_breaker_cooldown_seconds,
        probe_ttl_seconds=max(timeouts.values()) + 5,
    )
    setup = LLMSetup(settings, providers, timeouts, store)
    setup.breakers = {
        name: CircuitBreaker(name, store, policy, on_state=set_breaker) for name in providers
    }
    _setups.append(setup)
    return setup


def observe_call(record: CallRecord) -> None:
    """The engine's caller reports each ledger record here: Prometheus counts it."""
    record_llm_call(record.provider, record.outcome, record.cost_cents)


def llm_engine_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``Engine(...)``: the configured roles and the LLM deadline."""
    setup = llm_setup(settings)
    if setup is None:
        return {}
    deadline = settings.llm_deadline_seconds
    callers: dict[Role, StructuredCaller | None] = {}
    chains: dict[Role, list[str]] = {
        "content": settings.llm_content_providers,
        "reasoning": settings.llm_reasoning_providers,
        "rules": settings.llm_rules_providers,
    }
    for role, names in chains.items():
        links = setup.chain(names)
        callers[role] = (
            StructuredCaller(
                role,
                links,
                load_prompt(role),
                budget_seconds=deadline,
                max_retries=settings.llm_max_retries,
                observer=observe_call,
            )
            if links
            else None
        )
    log.info("engine.llm.configured", **{r: c.label if c else None for r, c in callers.items()})
    content, reasoning, rules = callers["content"], callers["reasoning"], callers["rules"]
    return {
        "content_analyzer": LLMContentAnalyzer(content) if content else None,
        "reasoner": LLMReasoner(reasoning) if reasoning else None,
        "semantic_evaluator": LLMSemanticEvaluator(rules) if rules else None,
        "timeouts": StageTimeouts(rules=deadline, content=deadline, reasoner=deadline),
        "llm_deadline_seconds": deadline,
    }


async def close_llm(settings: Settings | None = None) -> None:
    """Close the setups built for ``settings`` (all of them when None)."""
    for setup in [s for s in _setups if settings is None or s.settings is settings]:
        _setups.remove(setup)
        await setup.aclose()


@asynccontextmanager
async def llm_hook(state: AppState) -> AsyncIterator[None]:
    """Lifespan hook: close the providers' HTTP pools and the breaker's Redis client."""
    try:
        yield
    finally:
        await close_llm(state.settings)
