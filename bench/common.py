"""Shared helpers for the benchmark scripts: machine description, BENCHMARKS.md sections."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "tiktok"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> str:
    return (
        f"{os.cpu_count()} CPUs (nproc), {cpu_model()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}"
    )


def append_section(title: str, body: str) -> None:
    """Append a dated section to BENCHMARKS.md (created if missing)."""
    path = REPO / "BENCHMARKS.md"
    head = "" if path.exists() else "# Benchmarks\n"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"{head}\n## {title} ({stamp})\n\nMachine: {machine()}.\n\n{body.rstrip()}\n")
