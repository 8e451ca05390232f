"""`virtuna ingest`: load scraper files into the database."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import typer
from rich.progress import Progress

from virtuna.cli.common import (
    fail,
    out,
    print_json,
    progress_bar,
    run_with_progress,
    settings_or_exit,
)
from virtuna.config import Settings
from virtuna.kit.db import create_engine, create_session_factory, unit_of_work
from virtuna.kit.jsonfiles import JSONFileError, iter_records
from virtuna.kit.startup import migrate_database
from virtuna.videos.schemas import ScraperItem
from virtuna.videos.service import BATCH_SIZE, IngestReport, ingest_batch, validate_items


def _default_scraped_at(path: Path, given: datetime | None) -> datetime:
    """When an item has no scrapedAt: the option, else the file's modification time.

    Stable across re-ingests of the same file, so they stay idempotent.
    """
    if given is not None:
        return given if given.tzinfo else given.replace(tzinfo=UTC)
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)


async def _ingest_file(
    settings: Settings, path: Path, source: str, scraped_at: datetime, progress: Progress | None
) -> IngestReport:
    report = IngestReport()
    engine = create_engine(settings)
    factory = create_session_factory(engine)
    task = progress.add_task(path.name, total=None) if progress else None
    try:
        stream = validate_items(iter_records(path))
        while batch := list(islice(stream, BATCH_SIZE)):
            valid = [item for _, item in batch if isinstance(item, ScraperItem)]
            for position, reason in batch:
                if isinstance(reason, str):
                    report.rejected += 1
                    if len(report.errors) < 50:
                        report.errors.append(
                            {"file": str(path), "item": position, "reason": reason}
                        )
            async with unit_of_work(factory) as session:
                report.add(
                    await ingest_batch(session, valid, source=source, default_scraped_at=scraped_at)
                )
            if progress and task is not None:
                progress.advance(task, len(batch))
    finally:
        await engine.dispose()
    return report


def ingest(
    files: list[Path] = typer.Argument(
        ..., help="Scraper output: JSON array, JSON Lines, or gzip."
    ),
    source: str | None = typer.Option(
        None, "--source", help="Source label [default: file's folder]."
    ),
    scraped_at: datetime | None = typer.Option(
        None, "--scraped-at", help="Scrape time for items without scrapedAt [default: file mtime]."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Ingest scraped TikTok videos (idempotent: re-ingesting adds nothing)."""
    settings = settings_or_exit()
    for path in files:
        if not path.is_file():
            fail(f"{path}: no such file", code=2)
    migrate_database(settings)
    total = IngestReport()
    progress = progress_bar(not as_json)

    async def body() -> None:
        for path in files:
            label = source or path.parent.name or path.stem
            total.add(
                await _ingest_file(
                    settings, path, label, _default_scraped_at(path, scraped_at), progress
                )
            )

    try:
        run_with_progress(progress, body)
    except JSONFileError as exc:
        fail(str(exc))
    _print_report(total, as_json)


def _print_report(report: IngestReport, as_json: bool) -> None:
    if as_json:
        print_json(report.as_dict())
        return
    out.print(
        f"new {report.new}  updated {report.updated}  unchanged {report.unchanged}  "
        f"snapshots {report.snapshots}  rejected {report.rejected}"
    )
    for error in report.errors[:10]:
        out.print(f"  rejected {error['file']}#{error['item']}: {error['reason']}", highlight=False)
    if report.rejected > 10:
        out.print(f"  … and {report.rejected - 10} more rejected items")
