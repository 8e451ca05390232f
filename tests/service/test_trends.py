"""calculate-trends on constructed and real data; the trending API; what the engine sees."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.engine.history import trend_snapshot
from virtuna.engine.types import TrendPhase
from virtuna.kit.jsonfiles import iter_records
from virtuna.models import TrendingHashtag, TrendingSound, TrendSnapshotRun
from virtuna.trends import calculate, repository, series
from virtuna.trends import service as trends
from virtuna.trends.calculate import calculate_trends
from virtuna.videos.schemas import ScraperItem
from virtuna.videos.service import ingest_batch, validate_items

AS_OF = datetime(2025, 6, 1, tzinfo=UTC)
WEEK = timedelta(days=7)
RISING = [1, 2, 4, 6, 9, 14]  # per weekly bucket, oldest first
FADING = [2, 8, 12, 8, 4, 2]


def _item(n: int, posted: datetime, tags: list[str], views: int, **extra: Any) -> ScraperItem:
    return ScraperItem.model_validate(
        {
            "id": str(7_000_000_000_000_000_000 + n),
            "text": " ".join(f"#{t}" for t in tags),
            "createTimeISO": posted.isoformat(),
            "authorMeta": {"name": f"creator{n % 7}", "fans": 1000},
            "hashtags": [{"name": t} for t in tags],
            "playCount": views,
            "scrapedAt": (posted + timedelta(hours=1)).isoformat(),
            **extra,
        }
    )


def _series_items(tag: str, counts: list[int], start: int, **extra: Any) -> list[ScraperItem]:
    items = []
    for bucket, count in enumerate(counts):
        bucket_start = AS_OF - WEEK * (len(counts) - bucket)
        for k in range(count):
            posted = bucket_start + timedelta(hours=3 + k)
            n = start + bucket * 100 + k
            items.append(_item(n, posted, [tag, "fyp"], views=1000 * (k + 1), **extra))
    return items


SONG = {
    "musicMeta": {
        "musicId": "111",
        "musicName": "Song A",
        "musicAuthor": "Artist",
        "musicOriginal": False,
    }
}
OWN = {
    "musicMeta": {"musicName": "original sound - bob", "musicAuthor": "bob", "musicOriginal": True}
}


async def _seed(session: AsyncSession) -> None:
    items = _series_items("risetag", RISING, 0, **SONG) + _series_items(
        "fadetag", FADING, 10_000, **OWN
    )
    # Known only after AS_OF (scraped later): must not count at AS_OF.
    late = _item(99_999, AS_OF - timedelta(days=1), ["risetag"], 10**9)
    late = late.model_copy(update={"scraped_at": AS_OF + timedelta(days=1)})
    await ingest_batch(session, [*items, late], source="t", default_scraped_at=AS_OF)


async def _calculate(session: AsyncSession, **kw: Any) -> Any:
    return await calculate_trends(session, windows=[7], top_n=50, as_of=AS_OF, **kw)


async def test_series_counts_views_velocity_and_phase(session: AsyncSession) -> None:
    await _seed(session)
    result = await _calculate(session)
    assert result.created
    tags = {
        h.tag: h
        for h in await session.scalars(
            select(TrendingHashtag).where(TrendingHashtag.snapshot_id == result.snapshot_id)
        )
    }
    rise, fade, fyp = tags["risetag"], tags["fadetag"], tags["fyp"]
    assert rise.series == RISING  # the late-scraped video is not known at AS_OF
    assert rise.video_count == 14
    assert rise.total_views == sum(1000 * (k + 1) for k in range(14))
    assert rise.median_views == pytest.approx(7500.0)
    assert rise.velocity == pytest.approx((14 - 9) / 9, abs=1e-4)
    assert rise.phase == TrendPhase.RISING
    assert fade.phase == TrendPhase.DECLINING
    assert fade.velocity == pytest.approx(-0.5)
    assert fyp.is_generic
    assert not rise.is_generic
    assert fyp.series == [a + b for a, b in zip(RISING, FADING, strict=True)]
    sounds = {
        s.sound_key: s
        for s in await session.scalars(
            select(TrendingSound).where(TrendingSound.snapshot_id == result.snapshot_id)
        )
    }
    assert sounds["id:111"].is_original is False  # a commercial track
    assert sounds["id:111"].phase == TrendPhase.RISING
    assert sounds["original sound - bob|bob"].is_original is True


async def test_views_are_those_known_at_as_of_even_after_a_later_rescrape(
    session: AsyncSession,
) -> None:
    await _seed(session)
    before = await _calculate(session)
    # Every video of the seed is scraped again after AS_OF with far more views.
    items = _series_items("risetag", RISING, 0, **SONG)
    rescraped = [
        i.model_copy(update={"play_count": 10**9, "scraped_at": AS_OF + timedelta(days=2)})
        for i in items
    ]
    await ingest_batch(session, rescraped, source="t", default_scraped_at=AS_OF)
    # Other parameters, so a new snapshot is computed (over data that changed since).
    again = await calculate_trends(session, windows=[7], top_n=40, as_of=AS_OF)
    assert again.created
    rows = {}
    for snapshot in (before, again):
        rows[snapshot.snapshot_id] = await session.scalar(
            select(TrendingHashtag).where(
                TrendingHashtag.snapshot_id == snapshot.snapshot_id,
                TrendingHashtag.tag == "risetag",
            )
        )
    first, second = rows[before.snapshot_id], rows[again.snapshot_id]
    assert first is not None
    assert second is not None
    assert (second.total_views, second.median_views) == (first.total_views, first.median_views)


async def test_recalculating_unchanged_data_writes_nothing(session: AsyncSession) -> None:
    await _seed(session)
    first = await _calculate(session)
    again = await _calculate(session)
    assert first.created
    assert not again.created
    assert again.snapshot_id == first.snapshot_id
    assert await session.scalar(select(func.count()).select_from(TrendSnapshotRun)) == 1


async def test_no_data_no_snapshot(session: AsyncSession) -> None:
    result = await calculate_trends(session, windows=[7], top_n=50)
    assert result.snapshot_id is None
    assert not result.created


async def test_engine_sees_velocity_and_phase_but_its_own_entries_stay(
    session: AsyncSession,
) -> None:
    await _seed(session)
    await _calculate(session)
    base = trend_snapshot(
        as_of=AS_OF + WEEK,
        total_videos=10,
        hashtag_views={"risetag": [5.0, 7.0]},
        sound_views={"song a|artist": [3.0]},
    )
    merged = await trends.with_latest_trends(
        session,
        base,
        hashtags=["risetag", "unusedtag"],
        sound_title="Song A",
        sound_author="Artist",
    )
    own_tag = next(h for h in merged.hashtags if h.tag == "risetag")
    assert (own_tag.video_count, own_tag.median_views) == (2, 6.0)  # the draft's own numbers
    assert own_tag.phase == TrendPhase.RISING
    assert own_tag.velocity > 0
    assert [h.tag for h in merged.hashtags].count("risetag") == 1
    assert "fadetag" in {h.tag for h in merged.hashtags}
    own_sound = merged.sounds[0]
    assert own_sound.sound_id == "song a|artist"
    assert own_sound.video_count == 1
    assert own_sound.phase == TrendPhase.RISING
    assert own_sound.is_original is False
    assert "id:111" not in {s.sound_id for s in merged.sounds}  # never a second entry
    # Before any snapshot existed the draft sees only its own entries.
    early = trend_snapshot(
        as_of=AS_OF - timedelta(days=1), total_videos=0, hashtag_views={}, sound_views={}
    )
    same = await trends.with_latest_trends(
        session, early, hashtags=[], sound_title=None, sound_author=None
    )
    assert same is early


async def test_trending_api(
    session: AsyncSession, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    assert (await client.get("/api/trending/sounds", headers=auth)).status_code == 404
    await _seed(session)
    await _calculate(session)
    assert (await client.get("/api/trending/hashtags")).status_code == 401
    page = (await client.get("/api/trending/hashtags", headers=auth)).json()
    assert page["window_days"] == 7
    assert page["total"] == 3
    # Ranked by current usage boosted by its growth: the fast riser beats the bigger fyp.
    assert [i["tag"] for i in page["items"]] == ["risetag", "fyp", "fadetag"]
    rising = await client.get(
        "/api/trending/hashtags", params={"phase": "rising", "q": "#RISE"}, headers=auth
    )
    assert [i["tag"] for i in rising.json()["items"]] == ["risetag"]
    paged = (await client.get("/api/trending/hashtags", params={"limit": 2}, headers=auth)).json()
    assert len(paged["items"]) == 2
    assert paged["next_offset"] == 2
    bad = await client.get("/api/trending/hashtags", params={"window": 30}, headers=auth)
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["field"] == "window"
    bad_phase = await client.get("/api/trending/sounds", params={"phase": "x"}, headers=auth)
    assert bad_phase.status_code == 422
    commercial = (
        await client.get("/api/trending/sounds", params={"original": "false"}, headers=auth)
    ).json()
    assert [s["sound_key"] for s in commercial["items"]] == ["id:111"]
    detail = await client.get("/api/trending/sounds/id:111", headers=auth)
    assert detail.status_code == 200
    assert detail.json()["history"][-1]["video_count"] == 14
    assert detail.json()["series"] == RISING
    slash = await client.get("/api/trending/sounds/original sound - bob|bob", headers=auth)
    assert slash.status_code == 200
    assert slash.json()["is_original"] is True
    missing = await client.get("/api/trending/sounds/id:nope", headers=auth)
    assert missing.status_code == 404
    stats = (await client.get("/api/trending/stats", headers=auth)).json()
    assert stats["snapshots"] == 1
    assert stats["hashtag_phases"]["rising"] == 1
    assert (await client.get("/api/trending/stats")).status_code == 401


async def test_sound_history_spans_snapshots(
    session: AsyncSession, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await _seed(session)
    await calculate_trends(session, windows=[7], top_n=50, as_of=AS_OF - WEEK)
    await _calculate(session)
    body = (await client.get("/api/trending/sounds/id:111", headers=auth)).json()
    assert [p["video_count"] for p in body["history"]] == [9, 14]


async def test_real_data_phases_are_plausible(session: AsyncSession, tiktok_data_dir: Path) -> None:
    """Sanity check on real scraped videos: every phase that the data supports shows up,
    catch-all tags are flagged, and counts add up."""
    path = tiktok_data_dir / "thienphucle-vn-feed" / "videos.jsonl.gz"
    # The newest videos (the file is sorted by create time), as of the latest scrape.
    valid = [i for _, i in validate_items(iter_records(path)) if isinstance(i, ScraperItem)]
    await ingest_batch(session, valid[-6000:], source="real", default_scraped_at=AS_OF)
    result = await calculate_trends(session, windows=[30], top_n=300)
    rows = list(
        await session.scalars(
            select(TrendingHashtag).where(TrendingHashtag.snapshot_id == result.snapshot_id)
        )
    )
    phases = Counter(r.phase for r in rows)
    assert len(rows) == 300
    # The newest 6,000 rows of a scrape: mostly tags that appear only lately (emerging) and
    # tags whose use stops where the scrape stops (declining) — but not only those.
    assert phases[TrendPhase.EMERGING], phases
    assert phases[TrendPhase.DECLINING], phases
    assert all(r.video_count == r.series[-1] for r in rows)
    assert all(r.velocity >= -1 for r in rows)
    by_tag = {r.tag: r for r in rows}
    assert by_tag["fyp"].is_generic
    assert by_tag["xuhuong"].is_generic
    # A catch-all tag used by hundreds of videos in both recent buckets is established:
    # never "emerging"; here its use falls off where the scrape thins out.
    assert by_tag["fyp"].series[-2] > 100
    assert by_tag["fyp"].phase == TrendPhase.DECLINING


async def test_the_database_pre_ranking_agrees_with_the_exact_ranking(
    session: AsyncSession, tiktok_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database keeps the top N (+ a margin) per window; with no margin at all it must
    still pick exactly the keys the Python ranking picks, in the same order."""
    path = tiktok_data_dir / "thienphucle-vn-feed" / "videos.jsonl.gz"
    valid = [i for _, i in validate_items(iter_records(path)) if isinstance(i, ScraperItem)]
    await ingest_batch(session, valid[-6000:], source="real", default_scraped_at=AS_OF)
    ranked = {}
    for margin, top_n in ((10_000, 120), (0, 121)):  # top_n differs: two snapshots
        monkeypatch.setattr(calculate, "RANK_MARGIN", margin)
        result = await calculate.calculate_trends(session, windows=[7, 30], top_n=top_n)
        rows = await session.scalars(
            select(TrendingHashtag)
            .where(TrendingHashtag.snapshot_id == result.snapshot_id)
            .order_by(TrendingHashtag.window_days, TrendingHashtag.rank)
        )
        ranked[margin] = [(r.window_days, r.tag) for r in rows if r.rank <= 120]
    assert len(ranked[0]) > 100
    assert ranked[0] == ranked[10_000]


async def test_settled_and_general_queries_compute_the_same_entries(
    session: AsyncSession, tiktok_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As of the latest scrape every video is known with its latest views, so the counts
    skip the join; the result must equal the general query's, entry for entry."""
    path = tiktok_data_dir / "thienphucle-vn-feed" / "videos.jsonl.gz"
    valid = [i for _, i in validate_items(iter_records(path)) if isinstance(i, ScraperItem)]
    await ingest_batch(session, valid[-6000:], source="real", default_scraped_at=AS_OF)
    as_of = await repository.latest_scrape(session)
    assert as_of is not None
    assert await series.is_settled(session, as_of)
    computed = {}
    for settled in (True, False):
        monkeypatch.setattr(series, "is_settled", _constant(settled))
        hashtags, sounds, totals = await calculate._compute(session, as_of, [1, 7, 30], 200)
        strip = [{k: v for k, v in e.items() if k != "id"} for e in [*hashtags, *sounds]]
        computed[settled] = (strip, totals)
    assert len(computed[True][0]) > 300
    assert computed[True] == computed[False]
    # A video scraped after as_of makes the plan unsettled.
    later = valid[-1].model_copy(update={"scraped_at": as_of + timedelta(days=1)})
    await ingest_batch(session, [later], source="real", default_scraped_at=as_of)
    monkeypatch.undo()
    assert not await series.is_settled(session, as_of)


def _constant(value: bool) -> Any:
    async def settled(_session: AsyncSession, _as_of: datetime) -> bool:
        return value

    return settled
