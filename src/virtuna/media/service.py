"""Use cases for uploaded videos: measure one, delete it, purge expired ones.

Uploads live in ``<data_dir>/uploads``. With ``VIRTUNA_UPLOAD_RETENTION_HOURS=0`` (the
default) a file is deleted as soon as its analysis is done; otherwise it is kept and the
``purge-uploads`` job deletes files older than the retention. Partial files left by a crash
are purged after ``PARTIAL_GRACE`` whatever the retention.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import structlog

from virtuna.config import Settings
from virtuna.engine.video import VideoSignals
from virtuna.errors import UnsupportedMediaType, ValidationFailed
from virtuna.media.probe import VideoProbeError, VideoTooLong, probe_video
from virtuna.media.sniff import SNIFF_BYTES, sniff_container

log = structlog.get_logger("virtuna.media")
UPLOADS_DIR = "uploads"
PARTIAL_GRACE = timedelta(hours=1)


def uploads_dir(settings: Settings) -> Path:
    return settings.data_dir / UPLOADS_DIR


def upload_limit_bytes(settings: Settings) -> int:
    return settings.max_upload_mb * 1024 * 1024


async def measure(path: Path, *, settings: Settings, field: str = "video") -> VideoSignals:
    """Sniff and probe ``path`` off the event loop; 415 for a non-video, 422 over the cap."""
    head = await asyncio.to_thread(_head, path)
    container = sniff_container(head)
    if container is None:
        raise UnsupportedMediaType(
            f"{path.name} is not an MP4, MOV, WebM or Matroska video",
            details=[{"field": field, "message": "unrecognised container"}],
        )
    try:
        return await asyncio.to_thread(
            probe_video,
            path,
            max_duration_seconds=settings.max_video_seconds,
            container=container,
        )
    except VideoTooLong as exc:
        raise ValidationFailed(
            f"invalid upload: {field}", details=[{"field": field, "message": str(exc)}]
        ) from None
    except VideoProbeError as exc:
        raise ValidationFailed(
            f"invalid upload: {field}", details=[{"field": field, "message": str(exc)}]
        ) from None


def _head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(SNIFF_BYTES)


async def release(path: Path, *, settings: Settings) -> bool:
    """After analysis: delete the upload unless a retention keeps it. True when deleted."""
    if settings.upload_retention_hours > 0:
        return False
    await asyncio.to_thread(path.unlink, missing_ok=True)
    return True


def purge_expired(directory: Path, *, retention: timedelta, now: float | None = None) -> int:
    """Delete uploads older than ``retention`` (partial files after ``PARTIAL_GRACE``)."""
    if not directory.is_dir():
        return 0
    now = time.time() if now is None else now
    deleted = 0
    for path in directory.iterdir():
        if not path.is_file():
            continue
        keep = PARTIAL_GRACE if path.suffix == ".part" else retention
        try:
            if now - path.stat().st_mtime > keep.total_seconds():
                path.unlink()
                deleted += 1
        except FileNotFoundError:
            continue  # deleted by its own request meanwhile
    if deleted:
        log.info("media.uploads.purged", deleted=deleted)
    return deleted
