"""Measure an uploaded video with PyAV (FFmpeg ships in its wheels); no language model.

Bounded work: the duration comes from the container (or, if it declares none, from packet
timestamps, stopping at the cap); only the first ``HOOK_WINDOW_SECONDS`` of video are
decoded, each frame downscaled to a small grey image for cut detection; audio is decoded for
at most ``AUDIO_SECONDS``. Blocking: call ``probe_video`` through ``asyncio.to_thread``.

A *hard cut* is a frame whose grey-level histogram and pixels both differ strongly from the
previous frame (half the histogram mass moved and the mean pixel changed by ≥ 12 % of full
scale): a scene change, not motion or a pan inside one scene.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
from av.container import InputContainer

from virtuna.engine.video import HOOK_WINDOW_SECONDS, Container, VideoSignals

AUDIO_SECONDS = 60.0  # loudness is measured over at most this much audio
CUT_FRAME_SIZE = (64, 36)  # decode size for cut detection (width, height)
HIST_BINS = 16
CUT_HIST_DISTANCE = 0.5  # share of histogram mass that moved (0..1)
CUT_PIXEL_DISTANCE = 0.12  # mean absolute grey change, as a share of full scale
MAX_HOOK_FRAMES = 1000  # a stream claiming absurd frame rates cannot make us decode more
SILENCE_DBFS = -200.0


class VideoProbeError(Exception):
    """The file is not a video we can measure (message is safe to show the user)."""


class VideoTooLong(VideoProbeError):
    def __init__(self, duration: float, limit: float) -> None:
        self.duration, self.limit = duration, limit
        super().__init__(f"video is {duration:.1f} s long; the limit is {limit:g} s")


def probe_video(
    path: Path, *, max_duration_seconds: float, container: Container | None = None
) -> VideoSignals:
    """Measure ``path``; ``VideoTooLong`` over the cap, ``VideoProbeError`` if undecodable."""
    try:
        with av.open(str(path), mode="r") as box:
            return _probe(box, path, max_duration_seconds, container)
    except av.error.FFmpegError as exc:
        raise VideoProbeError(f"the file could not be decoded as video ({exc})") from None


def _probe(
    box: InputContainer, path: Path, limit: float, container: Container | None
) -> VideoSignals:
    if not box.streams.video:
        raise VideoProbeError("the file has no video stream")
    stream = box.streams.video[0]
    duration = _duration(box, limit)
    if duration > limit:
        raise VideoTooLong(duration, limit)
    rate = stream.average_rate or stream.guessed_rate
    width, height, cuts = _hook_window(box)
    has_audio = bool(box.streams.audio)
    return VideoSignals(
        duration_seconds=round(duration, 3),
        width=width,
        height=height,
        fps=round(float(rate), 3) if rate else None,
        has_audio=has_audio,
        loudness_dbfs=_loudness(path) if has_audio else None,
        cuts_first_3s=cuts,
        container=container,
        size_bytes=path.stat().st_size,
    )


def _duration(box: InputContainer, limit: float) -> float:
    stream = box.streams.video[0]
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if box.duration is not None:
        return box.duration / av.time_base
    # No declared duration: read packet timestamps (no decoding), stopping past the cap.
    end = 0.0
    for packet in box.demux(stream):
        if packet.pts is not None and packet.time_base is not None:
            end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
            if end > limit:
                break
    box.seek(0)
    return end


def _hook_window(box: InputContainer) -> tuple[int, int, int]:
    """Displayed width and height, and hard cuts within the hook window."""
    stream = box.streams.video[0]
    stream.thread_type = "AUTO"
    width, height = stream.codec_context.width, stream.codec_context.height
    previous: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = None
    cuts = frames = 0
    for frame in box.decode(stream):
        at = frame.time if frame.time is not None else frames / float(stream.average_rate or 30)
        if frames == 0:
            width, height = frame.width, frame.height
            if abs(getattr(frame, "rotation", 0) or 0) in (90, 270):
                width, height = height, width  # phone footage stored sideways, shown upright
        if at >= HOOK_WINDOW_SECONDS or frames >= MAX_HOOK_FRAMES:
            break
        current = _fingerprint(frame)
        if previous is not None and _is_cut(previous, current):
            cuts += 1
        previous, frames = current, frames + 1
    if width <= 0 or height <= 0:
        raise VideoProbeError("the video stream has no picture size")
    return width, height, cuts


def _fingerprint(
    frame: av.VideoFrame,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    w, h = CUT_FRAME_SIZE
    grey = frame.reformat(width=w, height=h, format="gray").to_ndarray().astype(np.float64)
    pixels = grey[:h, :w] / 255.0
    hist, _ = np.histogram(pixels, bins=HIST_BINS, range=(0.0, 1.0))
    return hist / max(1, pixels.size), pixels


def _is_cut(
    a: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
    b: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
) -> bool:
    hist_distance = 0.5 * float(np.abs(a[0] - b[0]).sum())
    pixel_distance = float(np.abs(a[1] - b[1]).mean())
    return hist_distance >= CUT_HIST_DISTANCE and pixel_distance >= CUT_PIXEL_DISTANCE


def _loudness(path: Path) -> float | None:
    """Mean RMS level in dBFS over the first AUDIO_SECONDS (full-scale sine ≈ -3 dBFS)."""
    with av.open(str(path), mode="r") as box:
        stream = box.streams.audio[0]
        resampler = av.AudioResampler(format="fltp")
        total, count = 0.0, 0
        limit = Fraction(AUDIO_SECONDS)
        for frame in box.decode(stream):
            if frame.time is not None and frame.time >= limit:
                break
            for out in resampler.resample(frame):
                samples = out.to_ndarray().astype(np.float64)
                total += float(np.square(samples).sum())
                count += samples.size
    if count == 0:
        return None
    mean_square = total / count
    if mean_square <= 0:
        return SILENCE_DBFS
    return round(max(SILENCE_DBFS, 10 * math.log10(mean_square)), 2)
