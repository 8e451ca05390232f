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


def configure_logging(settings: Settings, *, stream: Any = None) -> None:
    out = stream or sys.stderr
    fmt = settings.log_format
    if fmt is LogFormat.AUTO:
        fmt = LogFormat.CONSOLE if out.isatty() else LogFormat.JSON
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt is LogFormat.JSON
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    level = logging.getLevelNamesMapping()[settings.log_level]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(level, logging.WARNING), stream=out, force=True)


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
