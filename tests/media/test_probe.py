"""Local video signals (PyAV) on small videos generated in the test, container sniffing,
the counting upload writer and the upload purge."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest

from tests.media.videos import make_video
from virtuna.errors import PayloadTooLarge, UnsupportedMediaType
from virtuna.media.multipart import UploadWriter
from virtuna.media.probe import VideoProbeError, VideoTooLong, probe_video
from virtuna.media.service import purge_expired
from virtuna.media.sniff import sniff_container


def test_vertical_video_with_two_cuts_and_a_tone(tmp_path: Path) -> None:
    path = make_video(tmp_path / "v.mp4", seconds=3.0, cut_times=(1.0, 2.0), tone_amplitude=0.5)
    signals = probe_video(path, max_duration_seconds=600, container="mp4")
    assert signals.duration_seconds == pytest.approx(3.0, abs=0.1)
    assert (signals.width, signals.height) == (90, 160)
    assert signals.aspect_ratio == pytest.approx(9 / 16)
    assert signals.fps == pytest.approx(15.0)
    assert signals.has_audio
    # A sine of amplitude 0.5 has an RMS of 0.5/√2: 20·log10(0.3536) = -9.03 dBFS (AAC ±0.5).
    assert signals.loudness_dbfs == pytest.approx(-9.03, abs=0.5)
    assert signals.cuts_first_3s == 2  # the moving square inside each scene is not a cut
    assert signals.container == "mp4"
    assert signals.size_bytes == path.stat().st_size


def test_silent_landscape_video_without_cuts(tmp_path: Path) -> None:
    path = make_video(
        tmp_path / "s.mp4", width=160, height=90, cut_times=(), tone_amplitude=None, seconds=2.0
    )
    signals = probe_video(path, max_duration_seconds=600)
    assert (signals.width, signals.height) == (160, 90)
    assert not signals.has_audio
    assert signals.loudness_dbfs is None
    assert signals.cuts_first_3s == 0
    assert signals.duration_seconds == pytest.approx(2.0, abs=0.1)


def test_quiet_webm_and_a_cut_after_the_hook_window(tmp_path: Path) -> None:
    path = make_video(
        tmp_path / "q.webm",
        container="webm",
        seconds=4.0,
        cut_times=(3.5,),  # outside the first 3 s
        tone_amplitude=0.01,  # -43 dBFS
    )
    assert sniff_container(path.read_bytes()[:64]) == "webm"
    signals = probe_video(path, max_duration_seconds=600, container="webm")
    assert signals.cuts_first_3s == 0
    assert signals.loudness_dbfs is not None
    assert signals.loudness_dbfs == pytest.approx(-43.0, abs=1.5)
    assert signals.duration_seconds == pytest.approx(4.0, abs=0.15)


def test_duration_over_the_cap_is_refused(tmp_path: Path) -> None:
    path = make_video(tmp_path / "long.mp4", seconds=3.0, tone_amplitude=None)
    with pytest.raises(VideoTooLong) as caught:
        probe_video(path, max_duration_seconds=2.0)
    assert caught.value.limit == 2.0
    assert caught.value.duration == pytest.approx(3.0, abs=0.1)


def test_bytes_that_are_not_a_video_are_a_probe_error(tmp_path: Path) -> None:
    path = tmp_path / "fake.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"not really a movie" * 20)
    with pytest.raises(VideoProbeError):
        probe_video(path, max_duration_seconds=600)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00", "mov"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm\x42\x87", "webm"),
        (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska", "mkv"),
        (b"hello, this is plain text renamed to .mp4", None),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", None),
        (b"", None),
    ],
)
def test_container_is_sniffed_from_bytes(head: bytes, expected: str | None) -> None:
    assert sniff_container(head) == expected


async def test_writer_never_puts_more_than_the_limit_on_disk(tmp_path: Path) -> None:
    writer = UploadWriter(tmp_path, max_bytes=1000)
    await writer.write(b"\x00\x00\x00\x20ftypisom" + b"x" * 500)
    await writer.write(b"y" * 488)  # exactly at the limit: accepted
    with pytest.raises(PayloadTooLarge):
        await writer.write(b"z")  # one byte more: refused before it is written
    assert writer.path is not None
    assert writer.path.stat().st_size == 1000
    writer.discard()
    assert list(tmp_path.iterdir()) == []


async def test_writer_refuses_text_before_writing_anything(tmp_path: Path) -> None:
    writer = UploadWriter(tmp_path, max_bytes=10_000)
    with pytest.raises(UnsupportedMediaType):
        await writer.write(b"just some text that someone renamed to video.mp4 " * 3)
    assert list(tmp_path.iterdir()) == []


def test_purge_deletes_only_expired_uploads(tmp_path: Path) -> None:
    now = time.time()
    old, fresh, partial = tmp_path / "a.mp4", tmp_path / "b.mp4", tmp_path / "c.part"
    for path in (old, fresh, partial):
        path.write_bytes(b"x")
    os.utime(old, (now - 3 * 3600, now - 3 * 3600))
    os.utime(partial, (now - 2 * 3600, now - 2 * 3600))
    deleted = purge_expired(tmp_path, retention=timedelta(hours=24), now=now)
    assert deleted == 1  # only the stale partial: the old upload is within its 24 h
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "b.mp4"]
    assert purge_expired(tmp_path, retention=timedelta(hours=1), now=now) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["b.mp4"]
    assert purge_expired(tmp_path / "missing", retention=timedelta(hours=1)) == 0
