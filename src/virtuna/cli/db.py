"""`virtuna db`: schema migrations."""

from __future__ import annotations

import typer

from virtuna.cli.common import out, settings_or_exit
from virtuna.kit import migrate
from virtuna.kit.startup import migrate_database

app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)


@app.command()
def upgrade() -> None:
    """Apply every pending migration (safe to run from several processes at once)."""
    settings = settings_or_exit()
    report = migrate_database(settings)
    out.print(f"applied {len(report.applied)} migration(s); database at {report.revision} (head)")


@app.command()
def current() -> None:
    """Show the database's revision and the code's head revision."""
    settings = settings_or_exit()
    url = settings.resolved_database_url
    now = (
        migrate.current_revision(url)
        if not settings.is_sqlite or settings.data_dir.exists()
        else None
    )
    head = migrate.head_revision(url)
    state = "up to date" if now == head else "needs `virtuna db upgrade`"
    out.print(f"current: {now or 'none'}  head: {head}  ({state})")
