"""Prompt templates as versioned data files (``prompts/<role>.<version>.txt``).

A file has a ``### system`` and a ``### user`` section; the user part uses ``$name``
placeholders (``string.Template``, so JSON braces in prompts need no escaping). A missing or
malformed file falls back to a minimal built-in prompt with a logged warning, and the version
then reads ``<role>.builtin`` so stored analyses show which prompt really ran.
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Mapping
from importlib import resources

from pydantic import BaseModel, ValidationError, field_validator

from virtuna.engine.llm.provider import Role

log = logging.getLogger("virtuna.engine.llm")

PROMPT_VERSIONS: dict[Role, str] = {"content": "v1", "reasoning": "v1", "rules": "v1"}
PLACEHOLDERS: dict[Role, frozenset[str]] = {
    "content": frozenset({"content_type", "niche", "language", "hashtags", "duration", "text"}),
    "reasoning": frozenset(
        {
            "content_type",
            "niche",
            "hashtags",
            "duration",
            "text",
            "content_brief",
            "trend_context",
            "creator_context",
        }
    ),
    "rules": frozenset({"rules", "text"}),
}
_SECTION = re.compile(r"^### (system|user)\s*$", re.MULTILINE)


class PromptTemplate(BaseModel):
    role: Role
    version: str  # e.g. "content.v1"
    system: str
    user: str

    @field_validator("system", "user")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("section is empty")
        return value.strip()

    def render(self, values: Mapping[str, str]) -> str:
        return string.Template(self.user).substitute(values)


def parse_prompt(role: Role, version: str, text: str) -> PromptTemplate:
    parts = _SECTION.split(text)
    sections = dict(zip(parts[1::2], parts[2::2], strict=True))
    template = PromptTemplate.model_validate(
        {
            "role": role,
            "version": f"{role}.{version}",
            "system": sections.get("system", ""),
            "user": sections.get("user", ""),
        }
    )
    used = {
        m.group("named") or m.group("braced")
        for m in string.Template.pattern.finditer(template.user)
        if m.group("named") or m.group("braced")
    }
    unknown = used - PLACEHOLDERS[role]
    if unknown:
        raise ValueError(f"unknown placeholders {sorted(unknown)}")
    return template


def load_prompt(role: Role, version: str | None = None) -> PromptTemplate:
    """The packaged template, or the built-in fallback (logged) when it is missing or bad."""
    version = version or PROMPT_VERSIONS[role]
    name = f"{role}.{version}.txt"
    try:
        text = resources.files("virtuna.engine.llm").joinpath("prompts", name).read_text("utf-8")
        return parse_prompt(role, version, text)
    except (OSError, ValueError, ValidationError) as exc:
        log.warning(
            "llm.prompt.fallback", extra={"prompt": name, "error": f"{type(exc).__name__}: {exc}"}
        )
        return _builtin(role)


def _builtin(role: Role) -> PromptTemplate:
    fields = " ".join(f"{key}: ${key}" for key in sorted(PLACEHOLDERS[role]))
    return PromptTemplate(
        role=role,
        version=f"{role}.builtin",
        system=f"You evaluate TikTok drafts ({role}). Answer with JSON only.",
        user=fields,
    )
