"""Docs that cannot rot: every setting documented, the CLI reference current."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import AliasChoices

from virtuna.config import Settings
from virtuna.docs_gen import render_cli_reference

ROOT = Path(__file__).resolve().parents[1]


def _env_names() -> set[str]:
    names = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        assert isinstance(alias, AliasChoices), "every setting needs an explicit env name"
        names.add(str(alias.choices[0]))
    return names


def test_every_setting_is_documented_in_env_example() -> None:
    text = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.M))
    missing = _env_names() - documented
    assert not missing, f"undocumented settings in .env.example: {sorted(missing)}"
    stale = documented - _env_names()
    assert not stale, f".env.example lists unknown settings: {sorted(stale)}"


def test_every_setting_has_a_comment() -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    for index, line in enumerate(lines):
        if re.match(r"^[A-Z][A-Z0-9_]+=", line):
            block = lines[max(0, index - 6) : index]
            assert any(prev.startswith("# ") for prev in block), f"no comment near {line}"


def test_cli_reference_is_current() -> None:
    expected = render_cli_reference()
    actual = (ROOT / "docs" / "CLI.md").read_text()
    assert actual == expected, "docs/CLI.md is stale: run `make docs`"


@pytest.mark.parametrize("secret", ["gemini_api_key", "cron_secret", "apify_webhook_secret"])
def test_secrets_never_render(secret: str) -> None:
    settings = Settings.model_validate({secret.upper(): "s3cr3t-value"})
    assert "s3cr3t-value" not in repr(settings)
    assert "s3cr3t-value" not in str(settings.model_dump())
