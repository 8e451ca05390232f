"""Small real videos made in the test run with PyAV (no binary fixtures in the repository).

``make_video`` writes synthetic frames: scenes of different brightness, each with a moving
square (motion inside a scene must not count as a cut), switching at ``cut_times``; with
``tone_amplitude`` an AAC/Opus sine track at 440 Hz is muxed in.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

SCENES = ((25, 235), (225, 20), (120, 250))  # (background, square) grey levels per scene


def _frame(index: int, fps: int, width: int, height: int, cuts: tuple[float, ...]) -> np.ndarray:
    t = index / fps
    scene = sum(t >= c for c in cuts) % len(SCENES)
    background, square = SCENES[scene]
    image = np.full((height, width, 3), background, dtype=np.uint8)
    size = max(4, width // 5)
    x = int((width - size) * (index % fps) / fps)
    image[height // 3 : height // 3 + size, x : x + size] = square
    return image


def make_video(
    path: Path,
    *,
    seconds: float = 3.0,
    width: int = 90,
    height: int = 160,
    fps: int = 15,
    cut_times: tuple[float, ...] = (1.0, 2.0),
    tone_amplitude: float | None = 0.5,
    container: str = "mp4",
) -> Path:
    video_codec, audio_codec = ("libx264", "aac") if container == "mp4" else ("libvpx", "libopus")
    with av.open(str(path), mode="w", format=container) as box:
        video = box.add_stream(video_codec, rate=fps)
        assert isinstance(video, av.VideoStream)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio: av.AudioStream | None = None
        if tone_amplitude is not None:
            stream = box.add_stream(audio_codec, rate=48000)
            assert isinstance(stream, av.AudioStream)
            stream.layout = "mono"
            audio = stream
        for index in range(round(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(_frame(index, fps, width, height, cut_times))
            box.mux(video.encode(frame))
        box.mux(video.encode(None))
        if audio is not None and tone_amplitude is not None:
            _tone(box, audio, seconds, tone_amplitude)
    return path


def _tone(box: av.container.OutputContainer, stream: av.AudioStream, seconds: float, amp: float
          ) -> None:  # fmt: skip
    rate, chunk = 48000, 960
    total = int(seconds * rate)
    for start in range(0, total, chunk):
        t = (np.arange(start, min(total, start + chunk)) / rate).astype(np.float32)
        samples = (amp * np.sin(2 * np.pi * 440 * t)).astype(np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        box.mux(stream.encode(frame))
    box.mux(stream.encode(None))
