"""Logs: JSON lines carrying the request id, from structlog and stdlib loggers alike."""

from __future__ import annotations

import io
import json
import logging

import structlog

from virtuna.config import Settings
from virtuna.logging import configure_logging


def _lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_request_id_and_redact_secrets() -> None:
    buffer = io.StringIO()
    configure_logging(Settings(LOG_FORMAT="json", LOG_LEVEL="INFO", _env_file=None), stream=buffer)
    try:
        with structlog.contextvars.bound_contextvars(request_id="req-42"):
            structlog.get_logger("virtuna.test").info("unit.done", api_key="vt_secret")
            logging.getLogger("virtuna.engine").info(
                "engine.analysis.completed", extra={"duration_ms": 3.5}
            )
        structlog.get_logger("virtuna.test").info("outside")
    finally:
        configure_logging(Settings(_env_file=None))
    first, second, third = _lines(buffer)
    assert first["event"] == "unit.done"
    assert first["request_id"] == "req-42"
    assert first["api_key"] == "**********"
    assert second["event"] == "engine.analysis.completed"
    assert second["request_id"] == "req-42"
    assert second["duration_ms"] == 3.5
    assert "request_id" not in third
