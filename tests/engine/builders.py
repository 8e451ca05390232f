"""Small value builders for engine tests."""

from __future__ import annotations

from datetime import UTC, datetime

from virtuna.engine.types import HashtagTrend, SoundTrend, TrendPhase, TrendSnapshot

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def sound(
    title: str,
    *,
    velocity: float = 0.5,
    phase: TrendPhase | None = TrendPhase.RISING,
    original: bool | None = False,
    sound_id: str | None = None,
) -> SoundTrend:
    return SoundTrend(sound_id or title, title, None, original, 40, 1e5, velocity, phase)


def tag(
    name: str,
    *,
    velocity: float = 0.5,
    phase: TrendPhase | None = TrendPhase.RISING,
    generic: bool = False,
) -> HashtagTrend:
    return HashtagTrend(name, 100, 1e5, velocity, phase, generic)


def snapshot(
    sounds: tuple[SoundTrend, ...] = (), hashtags: tuple[HashtagTrend, ...] = ()
) -> TrendSnapshot:
    return TrendSnapshot(NOW, 7, 1000, sounds, hashtags, "test")
