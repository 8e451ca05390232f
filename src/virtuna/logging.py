"""structlog configuration, done once by each entry point.

JSON lines in production or when stderr is not a terminal; a readable console otherwise.
``request_id`` rides in a contextvar (structlog's contextvars) so every line logged inside a
request carries it without being passed around.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from virtuna.config import LogFormat, Settings

_SECRET_KEYS = ("key", "token", "secret", "password", "authorization", "dsn")


def _redact_secrets(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Never let a secret-looking field reach a log sink, whatever a caller passed."""
    for name in list(event_dict):
        if any(part in name.lower() for part in _SECRET_KEYS) and name != "event":
            event_dict[name] = "**********"
    return event_dict


# Libraries whose INFO lines are noise in our logs (one line per HTTP request they make).
_QUIET = ("httpx", "httpcore", "httpx2", "uvicorn.access", "asyncio", "aiosqlite")


def _renderer(fmt: LogFormat, out: Any) -> Any:
    """JSON, or coloured console lines; AUTO picks the console for a terminal."""
    if fmt is LogFormat.AUTO:
        fmt = LogFormat.CONSOLE if out.isatty() else LogFormat.JSON
    if fmt is LogFormat.JSON:
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=out.isatty())


def _handler(out: Any, shared: list[Any], renderer: Any) -> logging.Handler:
    """A stdlib handler rendering structlog's and foreign records through ``renderer``."""
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    return handler


def configure_logging(settings: Settings, *, stream: Any = None) -> None:
    """structlog and the stdlib (the engine, libraries) both render through one formatter.

    The engine logs through stdlib ``logging`` (it is a pure library); routing stdlib records
    through structlog's ProcessorFormatter gives them the same JSON shape and the request's
    ``request_id`` from the contextvars.
    """
    out = stream or sys.stderr
    level = logging.getLevelNamesMapping()[settings.log_level]
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_secrets,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    root.handlers = [_handler(out, shared, _renderer(settings.log_format, out))]
    root.setLevel(level)
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
