"""Background job of the media domain: delete expired uploads (idempotent)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from virtuna.jobs import JobContext, task
from virtuna.media.service import purge_expired, uploads_dir


@task("purge-uploads", schedule_setting="schedule_purge_uploads", lock="uploads")
async def purge_uploads(ctx: JobContext) -> dict[str, Any]:
    """Delete uploaded videos older than VIRTUNA_UPLOAD_RETENTION_HOURS (and stale partials).

    With retention 0 files are deleted right after their analysis; this sweep then only
    removes what a crash left behind.
    """
    settings = ctx.settings
    retention = timedelta(hours=max(settings.upload_retention_hours, 1))
    deleted = await asyncio.to_thread(purge_expired, uploads_dir(settings), retention=retention)
    return {"status": "ok", "deleted": deleted}
