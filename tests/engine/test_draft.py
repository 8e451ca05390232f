from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from virtuna.engine.draft import ContentType, InputMode, normalize_handle, parse_draft
from virtuna.engine.errors import DraftValidationError


def fields_of(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(DraftValidationError) as caught:
        parse_draft(data)
    return {e["field"]: e["message"] for e in caught.value.errors}


def test_minimal_text_draft_gets_defaults() -> None:
    draft = parse_draft({"input_mode": "text", "content_text": "hello #fyp"})
    assert draft.input_mode is InputMode.TEXT
    assert draft.content_type is ContentType.VIDEO
    assert draft.creator_handle is None


@pytest.mark.parametrize(
    ("mode", "field"),
    [("text", "content_text"), ("tiktok_url", "tiktok_url"), ("video_upload", "video_path")],
)
def test_each_mode_requires_its_field(mode: str, field: str) -> None:
    assert field in fields_of({"input_mode": mode})


def test_blank_text_is_missing_text() -> None:
    assert "content_text" in fields_of({"input_mode": "text", "content_text": "   \n"})


def test_every_bad_field_is_listed_at_once() -> None:
    errors = fields_of(
        {
            "input_mode": "tiktok_url",
            "tiktok_url": "http://127.0.0.1/@x/video/1234567",
            "content_text": "x" * 10_001,
            "content_type": "podcast",
            "creator_handle": "bad handle!",
            "creator_followers": -1,
            "duration_hint_seconds": 0,
            "contnet_text": "typo",
        }
    )
    assert set(errors) == {
        "tiktok_url",
        "content_text",
        "content_type",
        "creator_handle",
        "creator_followers",
        "duration_hint_seconds",
        "contnet_text",
    }
    assert errors["contnet_text"] == "unknown field"
    assert errors["tiktok_url"].startswith("host must be")


def test_missing_mode_field_is_reported_alongside_other_faults() -> None:
    errors = fields_of({"input_mode": "text", "creator_followers": -5})
    assert set(errors) == {"content_text", "creator_followers"}


def test_duration_hint_bounds() -> None:
    assert "duration_hint_seconds" in fields_of(
        {"input_mode": "text", "content_text": "x", "duration_hint_seconds": 3601}
    )
    draft = parse_draft({"input_mode": "text", "content_text": "x", "duration_hint_seconds": 3600})
    assert draft.duration_hint_seconds == 3600


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("@User.Name", "user.name"), ("  @abc_1 ", "abc_1"), ("plain", "plain"), ("@@x", "@x")],
)
def test_handle_is_normalised_one_way(raw: str, expected: str) -> None:
    assert normalize_handle(raw) == expected


@pytest.mark.parametrize("handle", ["@", "a" * 25, "@@double", "émile", "with space"])
def test_bad_handles_are_rejected(handle: str) -> None:
    assert "creator_handle" in fields_of(
        {"input_mode": "text", "content_text": "x", "creator_handle": handle}
    )


def test_handle_with_at_and_without_compare_equal() -> None:
    a = parse_draft({"input_mode": "text", "content_text": "x", "creator_handle": "@Chef.An"})
    b = parse_draft({"input_mode": "text", "content_text": "x", "creator_handle": "chef.an"})
    assert a.creator_handle == b.creator_handle == "chef.an"


def test_naive_schedule_is_read_as_utc_and_aware_is_kept() -> None:
    naive = parse_draft(
        {"input_mode": "text", "content_text": "x", "scheduled_for": "2025-01-02T10:00:00"}
    )
    assert naive.scheduled_for == datetime(2025, 1, 2, 10, tzinfo=UTC)
    aware = parse_draft(
        {"input_mode": "text", "content_text": "x", "scheduled_for": "2025-01-02T10:00:00+07:00"}
    )
    assert aware.scheduled_for == datetime(2025, 1, 2, 10, tzinfo=timezone(timedelta(hours=7)))


def test_url_mode_accepts_canonical_link_and_video_mode_a_path() -> None:
    url = parse_draft({"input_mode": "tiktok_url", "tiktok_url": "https://vm.tiktok.com/ZMabc123/"})
    assert url.tiktok_url == "https://vm.tiktok.com/ZMabc123/"
    video = parse_draft({"input_mode": "video_upload", "video_path": "uploads/a.mp4"})
    assert video.video_path == "uploads/a.mp4"


def test_error_message_names_fields() -> None:
    with pytest.raises(DraftValidationError, match="content_text"):
        parse_draft({"input_mode": "text"})
    with pytest.raises(DraftValidationError, match="input_mode"):
        parse_draft({"input_mode": "carrier pigeon", "content_text": "x"})
