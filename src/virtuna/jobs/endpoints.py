"""Job routes: run history for admins, and the cron trigger for schedulers outside us."""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from virtuna.errors import ServiceUnavailable, Unauthorized
from virtuna.jobs import service
from virtuna.jobs.port import registry
from virtuna.jobs.queue import DbQueue
from virtuna.jobs.schedule import cron_for
from virtuna.jobs.schemas import JobInfo, JobRunList, JobRunRead
from virtuna.kit.web import ERRORS_ADMIN, ERRORS_AUTH, Session, get_state
from virtuna.users.auth import AdminUser

router = APIRouter(prefix="/api", tags=["jobs"])
RunId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="A run id.")]


def _error(description: str) -> dict[str, Any]:
    return {**ERRORS_AUTH[401], "description": description}


ERRORS_CRON: dict[int | str, dict[str, Any]] = {
    401: _error("Missing or wrong cron secret (or CRON_SECRET unset)"),
    404: _error("Unknown job"),
    409: _error("The job is already queued or running"),
}


def get_queue(request: Request) -> DbQueue:
    queue = get_state(request).extras.get("jobs")
    if not isinstance(queue, DbQueue):
        raise ServiceUnavailable("the job queue is not available in this process")
    return queue


def require_cron_secret(request: Request) -> None:
    """``Authorization: Bearer $CRON_SECRET``, compared in constant time; unset refuses all."""
    secret = get_state(request).settings.cron_secret
    if secret is None or not secret.get_secret_value():
        raise Unauthorized("cron endpoints are disabled: CRON_SECRET is not set")
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    expected = secret.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise Unauthorized("invalid or missing cron secret")


Queue = Annotated[DbQueue, Depends(get_queue)]


@router.get("/jobs", response_model=JobRunList, responses=ERRORS_ADMIN)
async def list_jobs(
    request: Request,
    _: AdminUser,
    session: Session,
    job: Annotated[str | None, Query(max_length=100)] = None,
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> JobRunList:
    """Known jobs with their schedules, and recent runs (newest first)."""
    settings = get_state(request).settings
    runs = await service.list_runs(session, task_name=job, status=status, limit=limit)
    return JobRunList(
        jobs=[JobInfo(name=s.name, schedule=cron_for(settings, s)) for s in registry.all()],
        runs=[JobRunRead.of(r) for r in runs],
    )


@router.get(
    "/jobs/{run_id}",
    response_model=JobRunRead,
    responses={**ERRORS_ADMIN, 404: _error("No such run")},
)
async def get_job_run(run_id: RunId, _: AdminUser, session: Session) -> JobRunRead:
    """One run: status, attempt, progress, error, result."""
    return JobRunRead.of(await service.get_run(session, run_id))


_CRON_ROUTE: dict[str, Any] = {
    "status_code": 202,
    "response_model": JobRunRead,
    "responses": ERRORS_CRON,
    "dependencies": [Depends(require_cron_secret)],
    "openapi_extra": {"security": [{"CronSecret": []}]},
}
JobName = Annotated[str, Path(max_length=100, pattern=r"^[a-z0-9][a-z0-9-]*$")]


@router.post("/cron/{job}", operation_id="trigger_job", **_CRON_ROUTE)
async def trigger_job(job: JobName, queue: Queue) -> JobRunRead:
    """Queue a run now (Bearer CRON_SECRET); 409 while one is queued or running."""
    return JobRunRead.of(await queue.start(job, trigger="api"))


@router.get("/cron/{job}", operation_id="trigger_job_get", **_CRON_ROUTE)
async def trigger_job_get(job: JobName, queue: Queue) -> JobRunRead:
    """The same trigger for platforms whose schedulers only send GET."""
    return JobRunRead.of(await queue.start(job, trigger="api"))
