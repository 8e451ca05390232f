"""Post metrics for the follow-up scrape, and the production fetcher behind them.

The fetcher is a protocol so the job can be driven by anything that answers "what are these
posts' counts now?". The production one goes through the data pipeline's scraper client
(``virtuna.videos.apify``): every due URL of a batch goes into ONE run of the TikTok scraper
actor (input ``postURLs``), and the run's dataset items are matched back to the URLs.

A fetch returns a mapping: ``url → PostMetrics`` (scraped), ``url → None`` (the run finished
and the post was not among its results: deleted or private), and URLs *missing* from the
mapping are unknown (the run failed or timed out before reaching them) and are retried.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog

from virtuna.config import Settings
from virtuna.engine.urls import InvalidTikTokUrl, parse_tiktok_url
from virtuna.jobs import JobContext
from virtuna.videos import apify

log = structlog.get_logger("virtuna.outcomes.post_metrics")
COUNTS = {"views": "playCount", "likes": "diggCount", "comments": "commentCount",
          "shares": "shareCount", "saves": "collectCount"}  # fmt: skip


@dataclass(frozen=True)
class PostMetrics:
    """A post's public counts as scraped; ``posted_at`` is its create time when known."""

    views: int | None
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None
    saves: int | None = None
    posted_at: datetime | None = None


class PostMetricsFetcher(Protocol):
    async def fetch_many(self, urls: Sequence[str]) -> Mapping[str, PostMetrics | None]:
        """Current counts per URL; None = gone or private; a missing URL = try again later."""
        ...


class ScraperRunFailed(RuntimeError):
    """The scraper run ended without results for any requested post."""


def _count(item: Mapping[str, Any], key: str) -> int | None:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return int(value)


def _created(item: Mapping[str, Any]) -> datetime | None:
    iso = item.get("createTimeISO")
    if isinstance(iso, str):
        try:
            parsed = datetime.fromisoformat(iso.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    unix = _count(item, "createTime")
    return datetime.fromtimestamp(unix, UTC) if unix else None


def metrics_of(item: Mapping[str, Any]) -> PostMetrics | None:
    """A scraper item's counts; None when it carries no view count (an error item)."""
    views = _count(item, "playCount")
    if views is None:
        return None
    others = {name: _count(item, key) for name, key in COUNTS.items() if name != "views"}
    return PostMetrics(views=views, posted_at=_created(item), **others)


def _video_id(url: str) -> str | None:
    try:
        return parse_tiktok_url(url).video_id
    except InvalidTikTokUrl:
        return None


def match_items(urls: Sequence[str], items: Sequence[Any]) -> dict[str, PostMetrics]:
    """Each URL's item: by the URL the actor echoes back, else by the video id."""
    by_key: dict[str, PostMetrics] = {}
    for item in items:
        metrics = metrics_of(item) if isinstance(item, Mapping) else None
        if metrics is None:
            continue
        assert isinstance(item, Mapping)
        for key in ("submittedVideoUrl", "input", "webVideoUrl"):
            if isinstance(item.get(key), str):
                by_key.setdefault(item[key], metrics)
        if isinstance(item.get("id"), str):
            by_key.setdefault("id:" + item["id"], metrics)
    found: dict[str, PostMetrics] = {}
    for url in urls:
        video_id = _video_id(url)
        hit = by_key.get(url) or (by_key.get("id:" + video_id) if video_id else None)
        if hit is not None:
            found[url] = hit
    return found


@dataclass(frozen=True)
class ApifyPostMetrics:
    """All URLs of a batch in one run of the configured scraper actor."""

    settings: Settings

    @property
    def wait(self) -> timedelta:
        # Bounded below the stale-claim threshold: a claim is never taken over while its
        # worker is still waiting for the run.
        return timedelta(minutes=self.settings.outcome_follow_up_stale_minutes) * 0.75

    async def fetch_many(self, urls: Sequence[str]) -> Mapping[str, PostMetrics | None]:
        unique = list(dict.fromkeys(urls))
        run, items = await apify.scrape_post_urls(self.settings, unique, wait=self.wait)
        found = match_items(unique, items)
        log.info("outcome.follow_up.scraped", run_id=run.id, status=run.status,
                 urls=len(unique), items=len(items), matched=len(found))  # fmt: skip
        if run.status == "SUCCEEDED":
            return {url: found.get(url) for url in unique}
        if not found:
            raise ScraperRunFailed(f"scraper run {run.id} ended {run.status} with no results")
        return found  # partial results of a failed run: the rest is retried


def apify_fetcher(ctx: JobContext) -> PostMetricsFetcher | None:
    """The production fetcher when Apify is configured (APIFY_TOKEN), else None."""
    if ctx.settings.apify_token is None:
        return None
    return ApifyPostMetrics(ctx.settings)
