"""What every command shares: settings, a database session, one-line errors."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from virtuna.config import Settings, get_settings
from virtuna.errors import AppError
from virtuna.logging import configure_logging

T = TypeVar("T")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@contextmanager
def quiet_engine_logs() -> Iterator[None]:
    """Per-stage INFO lines (OBS-04) serve the API; over a file of drafts they would be
    eight lines a draft. Restored afterwards (in-process callers, tests)."""
    engine_log = logging.getLogger("virtuna.engine")
    level = engine_log.level
    engine_log.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        engine_log.setLevel(level)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        settings = get_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        fail(f"invalid configuration: {problems}", code=2)
    configure_logging(settings)
    return settings


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    """Run an async command body; expected errors become one line and exit code 1."""

    async def wrapper() -> T:
        return await coro_fn()

    try:
        return asyncio.run(wrapper())
    except AppError as exc:
        fail(exc.message, code=2 if exc.status_code in (400, 422) else 1)


def progress_bar(enabled: bool) -> Progress | None:
    """A progress bar on stderr (so stdout stays clean for --json and pipes), or none."""
    if not enabled:
        return None
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )


def run_with_progress(progress: Progress | None, coro_fn: Callable[[], Awaitable[T]]) -> T:
    if progress is None:
        return run(coro_fn)
    with progress:
        return run(coro_fn)


def print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, default=str, ensure_ascii=False) + "\n")
