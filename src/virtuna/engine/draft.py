"""The draft a user wants scored: the engine's validation boundary.

``parse_draft`` is the one entry point for untrusted input. It reports *every* bad field at
once (a ``DraftValidationError`` the service turns into a 422) instead of stopping at the
first, and it rejects unknown keys so that a typo such as ``contnet_text`` is not silently
scored as an empty draft.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

from virtuna.engine.errors import DraftValidationError, FieldError
from virtuna.engine.urls import check_tiktok_url
from virtuna.engine.video import VideoSignals

MAX_CONTENT_CHARS = 10_000
MAX_HANDLE_CHARS = 24
_HANDLE = re.compile(r"\A[a-z0-9._]+\Z")


class InputMode(StrEnum):
    TEXT = "text"
    TIKTOK_URL = "tiktok_url"
    VIDEO_UPLOAD = "video_upload"


class ContentType(StrEnum):
    POST = "post"
    REEL = "reel"
    STORY = "story"
    VIDEO = "video"
    THREAD = "thread"


# Which field each mode cannot do without; checked on the raw mapping too (see parse_draft).
_REQUIRED_BY_MODE: dict[str, str] = {
    InputMode.TEXT: "content_text",
    InputMode.TIKTOK_URL: "tiktok_url",
    InputMode.VIDEO_UPLOAD: "video_path",
}


def normalize_handle(value: str) -> str:
    """The single handle normalisation used everywhere: trim, drop one leading "@", lowercase."""
    handle = value.strip()
    if handle.startswith("@"):
        handle = handle[1:]
    return handle.lower()


class Draft(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=False, validate_default=True
    )

    input_mode: InputMode
    content_text: str | None = Field(default=None, max_length=MAX_CONTENT_CHARS)
    tiktok_url: str | None = None
    video_path: str | None = Field(default=None, min_length=1, max_length=1024)
    content_type: ContentType = ContentType.VIDEO
    niche: str | None = Field(default=None, max_length=100)
    creator_handle: str | None = None
    creator_followers: int | None = Field(default=None, ge=0)
    duration_hint_seconds: float | None = Field(default=None, gt=0, le=3600)
    scheduled_for: datetime | None = None
    sound_title: str | None = Field(default=None, max_length=300)
    # Known before posting, and used by the model exactly as in training.
    sound_author: str | None = Field(default=None, max_length=300)
    sound_original: bool | None = None  # the creator's own audio vs a commercial track
    creator_verified: bool | None = None
    # Measured by the service from the uploaded file (virtuna.media.probe); never taken from
    # a client's JSON (the API refuses it), so it is left out of the published schema.
    video: SkipJsonSchema[VideoSignals | None] = None

    @field_validator("creator_handle")
    @classmethod
    def _check_handle(cls, value: str | None) -> str | None:
        if value is None:
            return None
        handle = normalize_handle(value)
        if not handle:
            raise ValueError("handle is empty")
        if len(handle) > MAX_HANDLE_CHARS:
            raise ValueError(f"handle is longer than {MAX_HANDLE_CHARS} characters")
        if not _HANDLE.match(handle):
            raise ValueError("handle may only contain letters, digits, '.' and '_'")
        return handle

    @field_validator("tiktok_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return check_tiktok_url(value)

    @field_validator("scheduled_for")
    @classmethod
    def _assume_utc(cls, value: datetime | None) -> datetime | None:
        # A naive time from a form or CSV has no zone; UTC is the documented reading.
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @field_validator("content_text", "tiktok_url", "video_path", mode="after")
    @classmethod
    def _required_by_mode(cls, value: str | None, info: ValidationInfo) -> str | None:
        # A field validator (run even on the default) rather than a model validator, so the
        # error carries the field's name — for the API's 422 as much as for parse_draft.
        mode = info.data.get("input_mode")
        if mode is not None and _REQUIRED_BY_MODE.get(mode) == info.field_name:
            if value is None or not value.strip():
                raise ValueError(f"required when input_mode is {mode.value}")
        return value


def _mode_errors(values: Mapping[str, Any]) -> list[FieldError]:
    required = _REQUIRED_BY_MODE.get(str(values.get("input_mode")))
    if required is None:
        return []
    value = values.get(required)
    if value is None or (isinstance(value, str) and not value.strip()):
        mode = values.get("input_mode")
        return [{"field": required, "message": f"required when input_mode is {mode!s}"}]
    return []


def parse_draft(data: Mapping[str, Any]) -> Draft:
    """Validate untrusted input into a ``Draft``; raise ``DraftValidationError`` listing all faults.

    The mode check also runs on the raw mapping because pydantic skips the model validator
    whenever a field fails, and the client should still hear about the missing field.
    """
    try:
        return Draft.model_validate(dict(data))
    except ValidationError as exc:
        errors = _field_errors(exc)
    mode = data.get("input_mode")
    raw_mode = mode.value if isinstance(mode, InputMode) else mode
    named = {e["field"] for e in errors}
    for problem in _mode_errors({**data, "input_mode": raw_mode}):
        if problem["field"] not in named:
            errors.append(problem)
    raise DraftValidationError(errors) from None


def _field_errors(exc: ValidationError) -> list[FieldError]:
    errors: list[FieldError] = []
    for item in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in item["loc"])
        if not loc:
            continue  # the model-level mode check; re-derived with its field name by the caller
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        errors.append({"field": loc, "message": message})
    return errors
