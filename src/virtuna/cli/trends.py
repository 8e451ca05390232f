"""`virtuna trends show | calculate`: the latest computed trends as a table, or a new snapshot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import typer
from rich.table import Table

from virtuna.cli.common import out, print_json, run, settings_or_exit
from virtuna.engine.types import TrendPhase
from virtuna.kit.startup import session_scope
from virtuna.trends import service
from virtuna.trends.calculate import calculate_trends

app = typer.Typer(help="Trending sounds and hashtags.", no_args_is_help=True)


class Kind(StrEnum):
    SOUNDS = "sounds"
    HASHTAGS = "hashtags"


def _rows(page: Any, kind: Kind) -> list[dict[str, Any]]:
    rows = []
    for item in page.items:
        entry = item.model_dump(mode="json")
        entry["name"] = f"#{item.tag}" if kind is Kind.HASHTAGS else item.title
        rows.append(entry)
    return rows


def _table(rows: list[dict[str, Any]], kind: Kind, page: Any) -> Table:
    table = Table(
        title=f"Trending {kind.value} — {page.window_days}-day window, as of "
        f"{page.snapshot.as_of:%Y-%m-%d %H:%M} UTC ({page.total} in all)"
    )
    for column in ("#", "name", "phase", "videos", "velocity", "median views", "series"):
        table.add_column(column, justify="left" if column in ("name", "phase") else "right")
    if kind is Kind.SOUNDS:
        table.add_column("audio")
    for row in rows:
        cells = [
            str(row["rank"]),
            row["name"][:60],
            row["phase"] or "-",
            f"{row['video_count']:,}",
            f"{row['velocity']:+.2f}",
            f"{row['median_views']:,.0f}" if row["median_views"] is not None else "-",
            " ".join(str(n) for n in row["series"]),
        ]
        if kind is Kind.SOUNDS:
            original = row["is_original"]
            cells.append("original" if original else "commercial" if original is False else "?")
        table.add_row(*cells)
    return table


@app.command("show")
def show(
    kind: Kind = typer.Option(Kind.HASHTAGS, "--kind", help="What to list."),
    phase: TrendPhase | None = typer.Option(None, "--phase", help="Only this phase."),
    limit: int = typer.Option(20, "--limit", min=1, max=200, help="Rows to show."),
    window: int | None = typer.Option(
        None, "--window", min=1, help="Window in days [default: the 7-day one]."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show the latest computed trends."""
    settings = settings_or_exit()

    async def body() -> Any:
        async with session_scope(settings) as session:
            if kind is Kind.SOUNDS:
                return await service.list_sounds(
                    session,
                    window=window,
                    phase=phase,
                    search=None,
                    original=None,
                    limit=limit,
                    offset=0,
                )
            return await service.list_hashtags(
                session,
                window=window,
                phase=phase,
                search=None,
                include_generic=True,
                limit=limit,
                offset=0,
            )

    page = run(body)
    if as_json:
        print_json(page.model_dump(mode="json"))
        return
    out.print(_table(_rows(page, kind), kind, page))


@app.command("calculate")
def calculate(
    as_of: datetime | None = typer.Option(
        None, "--as-of", help="Compute as of this time [default: the latest scrape]."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Compute a trend snapshot now (what the calculate-trends job does)."""
    settings = settings_or_exit()
    when = as_of.replace(tzinfo=UTC) if as_of and as_of.tzinfo is None else as_of

    async def body() -> dict[str, Any]:
        async with session_scope(settings) as session:
            result = await calculate_trends(
                session,
                windows=settings.trends_windows_days,
                top_n=settings.trends_top_n,
                as_of=when,
                retention=timedelta(days=settings.trends_retention_days),
            )
            return result.as_dict()

    result = run(body)
    if as_json:
        print_json(result)
    elif result["snapshot_id"] is None and not result["created"] and result["as_of"] is None:
        out.print("No scraped data yet: ingest some first (`virtuna ingest`).")
    else:
        state = "computed" if result["created"] else "unchanged (already computed)"
        out.print(
            f"Trends as of {result['as_of']}: {state}; {result['sounds']} sound and "
            f"{result['hashtags']} hashtag entries."
        )
