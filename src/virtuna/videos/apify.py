"""The Apify scraper through apify-client: start a run with an ad-hoc webhook, re-read a
run, page through a dataset, and scrape a list of post URLs in one waited-for run.

The webhook secret travels in a header set by ``headersTemplate`` (never in the URL or the
body, where it would be logged or echoed back — ENGINE_SPEC §8.13). Run facts are always
re-read from the API: a webhook payload is only a hint that something changed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, TypedDict, cast, get_args

from apify_client import ApifyClientAsync
from apify_client.errors import ApifyApiError
from apify_client.types import WebhooksList

from virtuna.config import Settings
from virtuna.errors import ServiceUnavailable

WEBHOOK_PATH = "/api/webhooks/apify"
SECRET_HEADER = "X-Virtuna-Webhook-Secret"
RunEvent = Literal[
    "ACTOR.RUN.SUCCEEDED", "ACTOR.RUN.FAILED", "ACTOR.RUN.ABORTED", "ACTOR.RUN.TIMED_OUT"
]
# Event names use "_"; the run status is "TIMED-OUT".
RUN_EVENTS: tuple[RunEvent, ...] = get_args(RunEvent)
TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "ABORTED", "TIMED-OUT"})
PAGE_SIZE = 1000


class AdHocWebhook(TypedDict):
    """An ad-hoc webhook in the API's own spelling (WebhookRepresentation, INTEGRATIONS.md
    §1a); apify-client accepts this camelCase form as is."""

    eventTypes: list[str]
    requestUrl: str
    headersTemplate: str
    idempotencyKey: str


@dataclass(frozen=True, slots=True)
class RunInfo:
    id: str
    actor_id: str
    status: str
    dataset_id: str | None
    started_at: datetime | None
    finished_at: datetime | None
    status_message: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES


def _client(settings: Settings) -> ApifyClientAsync:
    if settings.apify_token is None:
        raise ServiceUnavailable("APIFY_TOKEN is not set: scraping is off")
    return ApifyClientAsync(
        settings.apify_token.get_secret_value(),
        api_url=settings.apify_base_url,
        max_retries=2,
        min_delay_between_retries=timedelta(milliseconds=500),
    )


def _info(run: Any) -> RunInfo:
    return RunInfo(
        id=run.id,
        actor_id=run.act_id,
        status=str(run.status),
        dataset_id=run.default_dataset_id,
        started_at=run.started_at,
        finished_at=run.finished_at,
        status_message=run.status_message,
    )


def webhook_url(settings: Settings) -> str:
    return settings.public_url.rstrip("/") + WEBHOOK_PATH


def trending_input(settings: Settings) -> dict[str, Any]:
    return {
        "hashtags": list(settings.scraper_hashtags),
        "resultsPerPage": settings.apify_results_per_page,
        "proxyCountryCode": "None",
    }


def profiles_input(settings: Settings, handles: list[str]) -> dict[str, Any]:
    """Actor input that scrapes the latest videos of these creators' profiles."""
    return {
        "profiles": list(handles),
        "resultsPerPage": settings.apify_profile_results,
        "profileScrapeSections": ["videos"],
        "profileSorting": "latest",
        "proxyCountryCode": "None",
    }


async def start_trending_run(settings: Settings, *, idempotency_key: str) -> RunInfo:
    """Start the configured actor on the configured hashtags, with the callback webhook."""
    return await _start_with_webhook(
        settings, trending_input(settings), settings.apify_max_items, idempotency_key
    )


async def start_profiles_run(
    settings: Settings, handles: list[str], *, idempotency_key: str
) -> RunInfo:
    """Start the actor on creator profiles; its webhook defers the ingest like a trending run."""
    run_input = profiles_input(settings, handles)
    max_items = len(handles) * settings.apify_profile_results
    return await _start_with_webhook(settings, run_input, max_items, idempotency_key)


async def _start_with_webhook(
    settings: Settings, run_input: dict[str, Any], max_items: int, idempotency_key: str
) -> RunInfo:
    if settings.apify_webhook_secret is None:
        # The receiver refuses every delivery without a secret: a run would be wasted.
        raise ServiceUnavailable("APIFY_WEBHOOK_SECRET is not set: webhook deliveries refused")
    secret = settings.apify_webhook_secret.get_secret_value()
    hook: AdHocWebhook = {
        "eventTypes": list(RUN_EVENTS),
        "requestUrl": webhook_url(settings),
        "headersTemplate": json.dumps({SECRET_HEADER: secret}),
        "idempotencyKey": idempotency_key,
    }
    run = await (
        _client(settings)
        .actor(settings.apify_actor_id)
        .start(
            run_input=run_input,
            max_items=max_items,
            memory_mbytes=settings.apify_memory_mb,
            run_timeout=timedelta(seconds=settings.apify_timeout_seconds),
            # The client's public webhooks type names its own TypedDicts; ours has their shape.
            webhooks=cast(WebhooksList, [hook]),
        )
    )
    return _info(run)


async def get_run(settings: Settings, run_id: str) -> RunInfo | None:
    """The run as the Apify API sees it now; None if it does not exist (or is not ours)."""
    try:
        run = await _client(settings).run(run_id).get()
    except ApifyApiError as exc:
        if exc.status_code in (401, 403, 404):
            return None
        raise
    return _info(run) if run is not None else None


async def dataset_pages(
    settings: Settings, dataset_id: str, *, page_size: int = PAGE_SIZE
) -> AsyncIterator[list[Any]]:
    """Every item of the dataset, one page at a time (no overall cap: all pages are read)."""
    dataset = _client(settings).dataset(dataset_id)
    offset = 0
    while True:
        page = await dataset.list_items(offset=offset, limit=page_size, clean=True)
        if page.items:
            yield list(page.items)
        # ``count`` is rows scanned (clean=True may return fewer items than that).
        offset += max(page.count, len(page.items))
        if page.count == 0 or offset >= page.total:
            return


def post_urls_input(urls: list[str]) -> dict[str, Any]:
    """Actor input that scrapes exactly these videos (no related ones)."""
    return {
        "postURLs": list(urls),
        "scrapeRelatedVideos": False,
        "resultsPerPage": 1,
        "proxyCountryCode": "None",
    }


async def scrape_post_urls(
    settings: Settings, urls: list[str], *, wait: timedelta
) -> tuple[RunInfo, list[Any]]:
    """One actor run over all ``urls``: start it, wait up to ``wait``, read its dataset.

    The run's own timeout is ``wait`` too, so a run we stopped waiting for is not left
    running (and billing). A run that did not finish in time returns no items.
    """
    run = await (
        _client(settings)
        .actor(settings.apify_actor_id)
        .call(
            run_input=post_urls_input(urls),
            max_items=len(urls),
            memory_mbytes=settings.apify_memory_mb,
            run_timeout=wait,
            wait_duration=wait,
            logger=None,  # no log streaming: status and dataset are all we read
        )
    )
    if run is None:
        raise ServiceUnavailable("the Apify run disappeared before it finished")
    info = _info(run)
    items: list[Any] = []
    if info.finished and info.dataset_id:
        async for page in dataset_pages(settings, info.dataset_id):
            items.extend(page)
    return info, items
