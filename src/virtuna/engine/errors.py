"""Errors the engine raises, named by meaning. Plain exceptions: the service maps them to HTTP.

Tree::

    EngineError
    ├── DraftValidationError      the draft is unusable; lists every bad field (service: 422)
    └── LLMError                  a language-model stage could not produce a usable answer
        ├── LLMUnavailable        HTTP error, timeout, open breaker, missing key
        └── LLMBadOutput          the provider answered, but not with what the schema demands

Only ``DraftValidationError`` escapes ``Engine.analyze``; LLM errors are caught per stage and
become warnings plus an unavailable signal.
"""

from __future__ import annotations

from typing import TypedDict


class FieldError(TypedDict):
    field: str
    message: str


class EngineError(Exception):
    pass


class DraftValidationError(EngineError, ValueError):
    """Raised with *all* the bad fields at once so a client can fix a draft in one round trip."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        super().__init__(f"invalid draft: {summary}")


class LLMError(EngineError):
    pass


class LLMUnavailable(LLMError):
    pass


class LLMBadOutput(LLMError):
    pass
