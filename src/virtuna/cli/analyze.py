"""`virtuna analyze`: score one draft, or a file of drafts, offline by default."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import Progress

from virtuna.cli.common import (
    fail,
    out,
    print_json,
    progress_bar,
    quiet_engine_logs,
    run,
    run_with_progress,
    settings_or_exit,
)
from virtuna.cli.report import print_ranking, print_report
from virtuna.config import Settings
from virtuna.engine.draft import Draft, parse_draft
from virtuna.engine.errors import DraftValidationError
from virtuna.engine.pipeline import Engine
from virtuna.engine.video import VideoSignals
from virtuna.errors import AppError
from virtuna.kit.db import create_engine, create_session_factory, unit_of_work
from virtuna.kit.jsonfiles import JSONFileError
from virtuna.kit.startup import migrate_database
from virtuna.media import service as media
from virtuna.predictions import service
from virtuna.predictions.drafts_file import read_drafts
from virtuna.predictions.engine_factory import build_engine
from virtuna.predictions.links import resolve_draft
from virtuna.predictions.model_reload import registry_champion
from virtuna.predictions.ranking import rank
from virtuna.predictions.rules import load_rules, seed_rules
from virtuna.predictions.schemas import AnalysisRead
from virtuna.users.service import local_user
from virtuna.videos.oembed import OEmbedClient
from virtuna.worker.runtime import load_tasks

CHUNK = 200


async def _prepared(settings: Settings) -> tuple[Any, Any, Engine]:
    # A stale or unknown creator's profile refresh is queued for the worker, as the API
    # does; queueing needs the task registered in this process.
    load_tasks()
    db = create_engine(settings)
    factory = create_session_factory(db)
    async with unit_of_work(factory) as session:
        await seed_rules(session)
    async with unit_of_work(factory) as session:
        rules = await load_rules(session)
    # The registry's champion, as `virtuna serve` would serve (unless VIRTUNA_MODEL_DIR pins).
    champion = await registry_champion(factory, settings)
    return db, factory, build_engine(settings, rules, champion)


def _single_draft(
    text: str | None,
    url: str | None,
    video: Path | None,
    creator: str | None,
    niche: str | None,
    content_type: str | None,
) -> dict[str, Any]:
    mode = "video_upload" if video else "tiktok_url" if url else "text"
    draft: dict[str, Any] = {
        "input_mode": mode,
        "content_text": text,
        "tiktok_url": url,
        "video_path": str(video) if video else None,
        "creator_handle": creator,
        "niche": niche,
        "content_type": content_type,
    }
    return {k: v for k, v in draft.items() if v is not None}


_Text = Annotated[str | None, typer.Argument(help="Caption or script text of the draft.")]
_Url = Annotated[str | None, typer.Option("--url", help="A TikTok video URL.")]
_Video = Annotated[
    Path | None,
    typer.Option(
        "--video",
        help="A video file (MP4, MOV, WebM, MKV): measured locally; Gemini watches it if set.",
    ),
]
_Creator = Annotated[str | None, typer.Option("--creator", help="Creator handle, e.g. @name.")]
_Followers = Annotated[
    int | None,
    typer.Option(
        "--followers", min=0, help="The creator's follower count, if the database lacks it."
    ),
]
_Niche = Annotated[str | None, typer.Option("--niche", help="Niche, e.g. cooking.")]
_ContentType = Annotated[
    str | None, typer.Option("--content-type", help="post|reel|story|video|thread.")
]
_File = Annotated[
    Path | None,
    typer.Option("--file", help="Score many: JSONL, JSON array, CSV or scraper items."),
]
_Out = Annotated[
    Path | None, typer.Option("--out", help="With --file: write one JSON result per input line.")
]
_Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a report.")]


def analyze(
    text: _Text = None,
    url: _Url = None,
    video: _Video = None,
    creator: _Creator = None,
    followers: _Followers = None,
    niche: _Niche = None,
    content_type: _ContentType = None,
    file: _File = None,
    out_path: _Out = None,
    as_json: _Json = False,
) -> None:
    """Score a draft (or a file of drafts) and explain the score."""
    settings = settings_or_exit()
    if file is None and text is None and url is None and video is None:
        fail("give the draft's TEXT, --url, --video, or --file", code=2)
    if video is not None and not video.is_file():
        fail(f"--video: {video}: no such file", code=2)
    if file is not None:
        if not file.is_file():
            fail(f"--file: {file}: no such file", code=2)
        _analyze_file(settings, file, out_path, as_json)
        return
    draft = _single_draft(text, url, video, creator, niche, content_type)
    if followers is not None:
        draft["creator_followers"] = followers
    if video is not None:  # measured exactly as an upload is (sniff, PyAV probe, caps)
        draft["video"] = _video_signals(video, settings)
    migrate_database(settings)
    result = run(lambda: _analyze_one(settings, draft))
    if as_json:
        print_json(result.model_dump(mode="json"))
    else:
        print_report(result)


async def _analyze_one(settings: Settings, draft: dict[str, Any]) -> AnalysisRead:
    """Resolve a link (before any transaction), then score and store the draft."""
    resolved, notes = await _resolve_link(draft, settings)
    db, factory, engine = await _prepared(settings)
    try:
        async with unit_of_work(factory) as session:
            user = await local_user(session)
            return await service.analyze(session, engine, user=user, draft=resolved, warnings=notes)
    finally:
        await db.dispose()


def oembed_client(http: httpx.AsyncClient, settings: Settings) -> OEmbedClient:
    """The CLI's oEmbed client (tests swap in a fake network)."""
    return OEmbedClient(
        http,
        endpoint=settings.tiktok_oembed_url,
        max_redirects=settings.tiktok_max_redirects,
        timeout=settings.tiktok_resolve_timeout_seconds,
    )


async def _resolve_link(draft: dict[str, Any], settings: Settings) -> tuple[Draft, list[str]]:
    """--url: caption and author from TikTok's oEmbed, as the API does (links.py)."""
    try:
        parsed = parse_draft(draft)
    except DraftValidationError as exc:
        fail("; ".join(f"{e['field']}: {e['message']}" for e in exc.errors), code=2)
    if parsed.tiktok_url is None:
        return parsed, []
    async with httpx.AsyncClient() as http:
        return await resolve_draft(parsed, oembed_client(http, settings))


def _video_signals(video: Path, settings: Settings) -> VideoSignals:
    try:
        return asyncio.run(media.measure(video, settings=settings, field="--video"))
    except AppError as exc:
        details = exc.details if isinstance(exc.details, list) else []
        reason = details[0]["message"] if exc.status_code == 422 and details else exc.message
        fail(f"--video: {reason}", code=2)


def _parse_rows(file: Path) -> list[tuple[int, str, Draft | str]]:
    rows: list[tuple[int, str, Draft | str]] = []
    for position, ident, raw in read_drafts(file):
        key = ident if ident is not None else str(position)
        if isinstance(raw, str):
            rows.append((position, key, raw))
            continue
        try:
            rows.append((position, key, parse_draft(raw)))
        except DraftValidationError as exc:
            rows.append((position, key, str(exc)))
    return rows


def _output_line(ident: str, item: AnalysisRead | str) -> dict[str, Any]:
    if isinstance(item, str):
        return {"id": ident, "error": item}
    return {
        "id": ident,
        "analysis_id": str(item.id),
        "score": item.overall_score,
        "tier": item.tier,
        "tier_probabilities": item.tier_probabilities,
        "confidence": item.confidence,
        "confidence_label": item.confidence_label,
        "model_version": item.model_version,
        "warnings": item.warnings,
    }


async def _score_all(settings: Settings, drafts: Sequence[Draft], progress: Progress | None
                     ) -> list[AnalysisRead]:  # fmt: skip
    db, factory, engine = await _prepared(settings)
    task = progress.add_task("scoring", total=len(drafts)) if progress else None
    results: list[AnalysisRead] = []
    try:
        for start in range(0, len(drafts), CHUNK):
            chunk = drafts[start : start + CHUNK]
            async with unit_of_work(factory) as session:
                user = await local_user(session)
                results += await service.analyze_batch(
                    session, engine, user=user, drafts=chunk, now=datetime.now(UTC)
                )
            if progress is not None and task is not None:
                progress.advance(task, len(chunk))
    finally:
        await db.dispose()
    return results


def _analyze_file(settings: Settings, file: Path, out_path: Path | None, as_json: bool) -> None:
    try:
        rows = _parse_rows(file)
    except JSONFileError as exc:
        fail(str(exc))
    valid = [(i, r[2]) for i, r in enumerate(rows) if isinstance(r[2], Draft)]
    migrate_database(settings)
    progress = progress_bar(not as_json)
    drafts = [d for _, d in valid if isinstance(d, Draft)]
    with quiet_engine_logs():
        scored = run_with_progress(progress, lambda: _score_all(settings, drafts, progress))
    by_row: dict[int, AnalysisRead | str] = {
        i: r[2] for i, r in enumerate(rows) if isinstance(r[2], str)
    }
    by_row.update({i: result for (i, _), result in zip(valid, scored, strict=True)})
    lines = [_output_line(rows[i][1], by_row[i]) for i in range(len(rows))]
    if out_path is not None:
        with out_path.open("w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    failed = sum(1 for line in lines if "error" in line)
    if as_json:
        print_json(
            {
                "scored": len(scored),
                "failed": failed,
                "results": lines if out_path is None else None,
            }
        )
        return
    ranked = rank(scored)
    print_ranking([(rows[valid[r.index][0]][1], r) for r in ranked])
    out.print(
        f"scored {len(scored)} draft(s), {failed} failed"
        + (f"; results written to {out_path}" if out_path else "")
    )
    for line in [entry for entry in lines if "error" in entry][:10]:
        out.print(f"  {line['id']}: {line['error']}", highlight=False)
