"""The `virtuna` command line."""

from __future__ import annotations

import typer

from virtuna import __version__
from virtuna.cli import analyze, db, ingest, users
from virtuna.cli import calibration as calibration_cli
from virtuna.cli import jobs as jobs_cli
from virtuna.cli import trends as trends_cli
from virtuna.cli.common import out, settings_or_exit
from virtuna.training.cli import app as ml_app

app = typer.Typer(
    name="virtuna",
    help="Predict how a TikTok draft will perform before posting, and learn from outcomes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.add_typer(jobs_cli.app, name="jobs")
app.command("worker")(jobs_cli.worker)
app.command("ingest")(ingest.ingest)
app.command("analyze")(analyze.analyze)
app.add_typer(ml_app, name="ml")
app.add_typer(calibration_cli.app, name="calibration")
app.add_typer(trends_cli.app, name="trends")


@app.command()
def version() -> None:
    """Print the version."""
    out.print(f"virtuna {__version__}")


@app.command()
def serve(
    host: str | None = typer.Option(
        None, help="Bind address [default: VIRTUNA_HOST or 127.0.0.1]."
    ),
    port: int | None = typer.Option(None, help="Port [default: VIRTUNA_PORT or 8000]."),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes."),
) -> None:
    """Run the HTTP API (migrates the database first; on SQLite also runs the job worker)."""
    import uvicorn

    from virtuna.kit.startup import migrate_database

    settings = settings_or_exit()
    if settings.auto_migrate:
        migrate_database(settings)
    bind_host, bind_port = host or settings.host, port or settings.port
    out.print(
        f"Virtuna {__version__} listening on http://{bind_host}:{bind_port} "
        f"(docs at /docs, database {settings.resolved_database_url.split(':')[0]})"
    )
    uvicorn.run(
        "virtuna.api.app:create_app",
        factory=True,
        host=bind_host,
        port=bind_port,
        workers=workers,
        log_level=settings.log_level.lower(),
        access_log=False,
    )


def main() -> None:
    app()
