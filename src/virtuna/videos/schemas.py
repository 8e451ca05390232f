"""The TikTok scraper's item format (Apify clockworks/tiktok-scraper), validated."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from virtuna.engine.draft import normalize_handle


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class AuthorMeta(_Loose):
    name: str = Field(min_length=1, max_length=64)
    id: str | None = None
    nick_name: str | None = Field(None, alias="nickName")

    @field_validator("nick_name")
    @classmethod
    def _clip(cls, value: str | None) -> str | None:
        return value[:200] if value else value

    verified: bool | None = None
    fans: int | None = Field(None, ge=0)

    @field_validator("name")
    @classmethod
    def _handle(cls, value: str) -> str:
        handle = normalize_handle(value)
        if not handle:
            raise ValueError("author handle is empty")
        return handle


class MusicMeta(_Loose):
    music_id: str | None = Field(None, alias="musicId")
    music_name: str | None = Field(None, alias="musicName")
    music_author: str | None = Field(None, alias="musicAuthor")
    music_original: bool | None = Field(None, alias="musicOriginal")

    @field_validator("music_name", "music_author")
    @classmethod
    def _clip(cls, value: str | None) -> str | None:
        # Real sound titles run long (lyrics pasted as titles); keep them, clipped to the column.
        return value[:500] if value else value


class VideoMeta(_Loose):
    duration: float | None = Field(None, ge=0, le=36_000)


class Hashtag(_Loose):
    name: str | None = None


class ScraperItem(_Loose):
    """One scraped video. Outcome fields are kept for the stats snapshot only."""

    id: str = Field(pattern=r"^\d{1,25}$")
    text: str = Field("", max_length=10_000)
    create_time: datetime = Field(alias="createTimeISO")
    author_meta: AuthorMeta = Field(alias="authorMeta")
    music_meta: MusicMeta | None = Field(None, alias="musicMeta")
    video_meta: VideoMeta | None = Field(None, alias="videoMeta")
    hashtags: list[Hashtag] = Field(default_factory=list)
    play_count: int = Field(alias="playCount", ge=0)
    digg_count: int | None = Field(None, alias="diggCount", ge=0)
    share_count: int | None = Field(None, alias="shareCount", ge=0)
    comment_count: int | None = Field(None, alias="commentCount", ge=0)
    collect_count: int | None = Field(None, alias="collectCount", ge=0)
    web_video_url: str | None = Field(None, alias="webVideoUrl", max_length=2048)
    scraped_at: datetime | None = Field(None, alias="scrapedAt")

    @model_validator(mode="before")
    @classmethod
    def _create_time(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("createTimeISO") and data.get("createTime"):
            data = {**data, "createTimeISO": datetime.fromtimestamp(float(data["createTime"]), UTC)}
        if isinstance(data, dict) and isinstance(data.get("id"), int):
            data = {**data, "id": str(data["id"])}
        return data

    @field_validator("create_time", "scraped_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def tag_names(self) -> list[str]:
        """Lowercase tags without '#', deduplicated in order."""
        seen: dict[str, None] = {}
        for tag in self.hashtags:
            name = (tag.name or "").strip().lstrip("#").lower()
            if name and len(name) <= 200:
                seen.setdefault(name, None)
        return list(seen)
