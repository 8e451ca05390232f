"""Measured facts about an uploaded video: a pure value the service hands to the engine.

The engine never opens a file: ``virtuna.media.probe`` decodes the upload (PyAV) and builds a
``VideoSignals``; rules read it by signal name (``values()``) and the ML stage takes its
duration. Not to be confused with ``engine.llm.protocols.VideoSignals``, which holds a
language model's *judgements* of a video; these are measurements.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Container = Literal["mp4", "mov", "webm", "mkv"]
MIME_TYPES: dict[str, str] = {
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
}
HOOK_WINDOW_SECONDS = 3.0

# What a video rule may test (``Rule.signal``); the value is None when not measurable.
VIDEO_SIGNAL_NAMES: tuple[str, ...] = (
    "duration_seconds",
    "aspect_ratio",
    "width",
    "height",
    "short_side",
    "fps",
    "has_audio",
    "loudness_dbfs",
    "cuts_first_3s",
)


class VideoSignals(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    duration_seconds: float = Field(ge=0, le=24 * 3600)
    width: int = Field(ge=1, le=16384)
    height: int = Field(ge=1, le=16384)
    fps: float | None = Field(default=None, ge=0, le=1000)
    has_audio: bool
    # Mean RMS level of the decoded audio, dB relative to full scale (None: no audio).
    loudness_dbfs: float | None = Field(default=None, ge=-200, le=0)
    # Hard cuts (large frame-to-frame changes) within the first HOOK_WINDOW_SECONDS.
    cuts_first_3s: int = Field(default=0, ge=0)
    container: Container | None = None
    size_bytes: int | None = Field(default=None, ge=0)

    @property
    def aspect_ratio(self) -> float:
        """Width / height of the displayed frame (9:16 ≈ 0.5625)."""
        return self.width / self.height

    @property
    def mime_type(self) -> str | None:
        return MIME_TYPES.get(self.container) if self.container else None

    def values(self) -> dict[str, float | None]:
        """Every signal a rule can test, by name, as a number (booleans are 0/1)."""
        return {
            "duration_seconds": self.duration_seconds,
            "aspect_ratio": round(self.aspect_ratio, 4),
            "width": float(self.width),
            "height": float(self.height),
            "short_side": float(min(self.width, self.height)),
            "fps": self.fps,
            "has_audio": 1.0 if self.has_audio else 0.0,
            "loudness_dbfs": self.loudness_dbfs,
            "cuts_first_3s": float(self.cuts_first_3s),
        }


__all__ = ["HOOK_WINDOW_SECONDS", "MIME_TYPES", "VIDEO_SIGNAL_NAMES", "Container", "VideoSignals"]
