"""Prompts as versioned data, prices, and role assignment from settings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from virtuna.config import Settings
from virtuna.engine.llm.prompts import load_prompt, parse_prompt
from virtuna.engine.llm.provider import DEEPSEEK_PEAK_HOURS_UTC, Completion, Pricing
from virtuna.engine.llm.roles import LLMContentAnalyzer
from virtuna.predictions.llm_factory import close_llm, llm_engine_options


def test_packaged_prompts_load_with_their_version() -> None:
    for role in ("content", "reasoning", "rules"):
        prompt = load_prompt(role)
        assert prompt.version == f"{role}.v1"


def test_missing_or_malformed_prompt_falls_back_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    prompt = load_prompt("content", "v999")
    assert prompt.version == "content.builtin"
    assert "$text" in prompt.user
    assert any(r.message == "llm.prompt.fallback" for r in caplog.records)
    with pytest.raises(ValueError, match="unknown placeholders"):
        parse_prompt("rules", "v1", "### system\nx\n### user\n$secret_key")
    with pytest.raises(ValueError, match="empty"):
        parse_prompt("rules", "v1", "### system\nx\n")


def test_deepseek_peak_hours_double_the_price() -> None:
    pricing = Pricing(0.15, 0.003, 0.60, 2.0, DEEPSEEK_PEAK_HOURS_UTC)
    usage = Completion("{}", input_tokens=1250, cached_input_tokens=1024, output_tokens=180)
    off_peak = pricing.cost_cents(usage, datetime(2026, 11, 23, 12, tzinfo=UTC))  # Monday
    peak = pricing.cost_cents(usage, datetime(2026, 11, 23, 2, tzinfo=UTC))
    weekend = pricing.cost_cents(usage, datetime(2026, 11, 22, 2, tzinfo=UTC))
    assert off_peak == pytest.approx(0.0145, rel=0.01)  # INTEGRATIONS.md §3 worked example
    assert peak == pytest.approx(2 * off_peak)
    assert weekend == pytest.approx(off_peak)


def test_no_keys_means_no_llm_roles() -> None:
    assert llm_engine_options(Settings(_env_file=None)) == {}


async def test_privacy_mode_runs_every_role_on_the_self_hosted_server() -> None:
    settings = Settings(
        OPENAI_COMPAT_BASE_URL="http://127.0.0.1:11434/v1",
        OPENAI_COMPAT_MODEL="llama3.1:8b",
        _env_file=None,
    )
    options = llm_engine_options(settings)
    try:
        for key in ("content_analyzer", "reasoner", "semantic_evaluator"):
            assert options[key].caller.label == "openai_compat:llama3.1:8b"
        assert isinstance(options["content_analyzer"], LLMContentAnalyzer)
        assert options["llm_deadline_seconds"] == settings.llm_deadline_seconds
    finally:
        await close_llm(settings)


async def test_role_chains_follow_settings() -> None:
    settings = Settings(
        GEMINI_API_KEY="g",
        DEEPSEEK_API_KEY="d",
        VIRTUNA_LLM_CONTENT_PROVIDERS="deepseek,gemini",
        VIRTUNA_LLM_RULES_PROVIDERS="",
        _env_file=None,
    )
    options = llm_engine_options(settings)
    try:
        assert [link.provider.name for link in options["content_analyzer"].caller.chain] == [
            "deepseek",
            "gemini",
        ]
        assert options["semantic_evaluator"] is None
        assert llm_engine_options(settings)["reasoner"].caller.chain[0].breaker is (
            options["reasoner"].caller.chain[0].breaker
        )  # rebuilt engines (model hot-reload) share providers and breaker state
    finally:
        await close_llm(settings)


def test_unknown_provider_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown providers"):
        Settings(VIRTUNA_LLM_CONTENT_PROVIDERS="gemini,claude", _env_file=None)
