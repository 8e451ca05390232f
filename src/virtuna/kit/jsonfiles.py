"""Read JSON records from a JSON array, JSON Lines, or a gzip of either.

Yields ``(line_number, value_or_error)`` so a caller can report a bad record and carry on;
a file that is not JSON at all raises ``JSONFileError`` naming the file.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


class JSONFileError(ValueError):
    pass


def _open_text(path: Path) -> IO[str]:
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig")
    return io.TextIOWrapper(path.open("rb"), encoding="utf-8-sig")


def _first_char(handle: IO[str]) -> str:
    while True:
        char = handle.read(1)
        if not char or not char.isspace():
            return char


def iter_records(path: Path) -> Iterator[tuple[int, Any]]:
    """Each record with its 1-based position; an undecodable line yields the exception."""
    if not path.is_file():
        raise JSONFileError(f"{path}: no such file")
    try:
        with _open_text(path) as handle:
            first = _first_char(handle)
        with _open_text(path) as handle:
            if first == "[":
                yield from _iter_array(path, handle)
            else:
                yield from _iter_lines(handle)
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
        raise JSONFileError(f"{path}: unreadable ({exc})") from exc


def _iter_array(path: Path, handle: IO[str]) -> Iterator[tuple[int, Any]]:
    try:
        data = json.load(handle)
    except json.JSONDecodeError as exc:
        raise JSONFileError(f"{path}: invalid JSON array at line {exc.lineno}: {exc.msg}") from exc
    yield from enumerate(data, start=1)


def _iter_lines(handle: IO[str]) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, exc
