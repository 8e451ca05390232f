"""Stream a ``multipart/form-data`` upload straight to a file, counting every byte.

Starlette's ``request.form()`` spools files into the system temp directory with no size
limit; this reader parses the body as it arrives (python-multipart's streaming parser) and
writes the ``video`` part under ``<data_dir>/uploads``:

- the first ``SNIFF_BYTES`` are held back and the container is sniffed from them before
  anything is written (not a video → 415, nothing on disk);
- a chunk that would take the file past ``max_bytes`` is refused *before* it is written
  (413), so at most ``max_bytes`` bytes are ever on disk, and the partial file is removed;
- the other parts are the draft's text fields (each at most ``MAX_FIELD_BYTES``).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from virtuna.engine.video import Container
from virtuna.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from virtuna.media.sniff import SNIFF_BYTES, sniff_container

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

FILE_FIELD = "video"
MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 32
PARTIAL_SUFFIX = ".part"


@dataclass(frozen=True, slots=True)
class StoredVideo:
    path: Path
    size_bytes: int
    container: Container


@dataclass(frozen=True, slots=True)
class UploadForm:
    fields: dict[str, str]
    video: StoredVideo


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"invalid upload: {name}", details=[{"field": name, "message": message}]
    )


class UploadWriter:
    """Writes one file under ``directory`` without ever exceeding ``max_bytes``."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory, self.max_bytes = directory, max_bytes
        self.size = 0
        self.container: Container | None = None
        self._head = b""
        self._file: IO[bytes] | None = None
        self.path: Path | None = None

    async def write(self, data: bytes) -> None:
        if self.container is None:
            self._head += data
            if len(self._head) < SNIFF_BYTES:
                return
            data, self._head = self._head, b""
            self._sniff(data)
        await self._append(data)

    async def finish(self) -> StoredVideo:
        if self.container is None:  # shorter than SNIFF_BYTES
            data, self._head = self._head, b""
            self._sniff(data)
            await self._append(data)
        assert self._file is not None
        assert self.path is not None
        assert self.container is not None
        await asyncio.to_thread(self._file.close)
        final = self.path.with_suffix(f".{self.container}")
        await asyncio.to_thread(os.replace, self.path, final)
        self.path = final
        return StoredVideo(final, self.size, self.container)

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def _sniff(self, head: bytes) -> None:
        self.container = sniff_container(head)
        if self.container is None:
            raise UnsupportedMediaType(
                "the uploaded file is not an MP4, MOV, WebM or Matroska video",
                details=[{"field": FILE_FIELD, "message": "unrecognised container"}],
            )

    async def _append(self, data: bytes) -> None:
        if self.size + len(data) > self.max_bytes:
            raise PayloadTooLarge(
                f"the video exceeds the upload limit of {self.max_bytes} bytes",
                details=[{"field": FILE_FIELD, "message": f"larger than {self.max_bytes} bytes"}],
            )
        if self._file is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.path = self.directory / f"{uuid.uuid4().hex}{PARTIAL_SUFFIX}"
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self._file = os.fdopen(fd, "wb")
        if data:
            await asyncio.to_thread(_write_through, self._file, data)
            self.size += len(data)


def _write_through(file: IO[bytes], data: bytes) -> None:
    file.write(data)
    file.flush()  # on disk now, so its size is what was accepted (and tests can see it)


@dataclass
class _Part:
    name: str | None = None
    filename: str | None = None
    header_name: bytes = b""
    header_value: bytes = b""
    value: bytearray = field(default_factory=bytearray)


class _FormReader:
    """Turns parser callbacks (synchronous) into events handled between chunks (async)."""

    def __init__(self, writer: UploadWriter) -> None:
        self.writer = writer
        self.fields: dict[str, str] = {}
        self.events: list[tuple[str, Any]] = []
        self.part = _Part()
        self.file_seen = False
        self.file_done = False
        self.in_file = False

    def callbacks(self) -> dict[str, Any]:
        def data_of(kind: str) -> Any:
            return lambda data, start, end: self.events.append((kind, bytes(data[start:end])))

        return {
            "on_part_begin": lambda: self.events.append(("begin", None)),
            "on_header_field": data_of("hname"),
            "on_header_value": data_of("hvalue"),
            "on_header_end": lambda: self.events.append(("hend", None)),
            "on_headers_finished": lambda: self.events.append(("hdone", None)),
            "on_part_data": data_of("data"),
            "on_part_end": lambda: self.events.append(("end", None)),
        }

    async def drain(self) -> None:
        events, self.events = self.events, []
        chunk = bytearray()
        for kind, value in events:
            if kind == "data" and self.in_file:
                chunk += value
                continue
            if chunk:
                await self.writer.write(bytes(chunk))
                chunk.clear()
            await self._event(kind, value)
        if chunk:
            await self.writer.write(bytes(chunk))

    async def _event(self, kind: str, value: bytes | None) -> None:
        part = self.part
        if kind == "begin":
            self.part = _Part()
        elif kind == "hname":
            part.header_name += value or b""
        elif kind == "hvalue":
            part.header_value += value or b""
        elif kind == "hend":
            if part.header_name.lower() == b"content-disposition":
                _, options = parse_options_header(part.header_value)
                part.name = options.get(b"name", b"").decode("utf-8", "replace")
                raw = options.get(b"filename")
                part.filename = raw.decode("utf-8", "replace") if raw is not None else None
            part.header_name, part.header_value = b"", b""
        elif kind == "hdone":
            self._start_part(part)
        elif kind == "data":
            part.value += value or b""
            if len(part.value) > MAX_FIELD_BYTES:
                raise _invalid(part.name or "body", f"longer than {MAX_FIELD_BYTES} bytes")
        elif kind == "end":
            if self.in_file:
                self.in_file, self.file_done = False, True
            elif part.name:
                self.fields[part.name] = part.value.decode("utf-8", "replace")

    def _start_part(self, part: _Part) -> None:
        if not part.name:
            raise _invalid("body", "a form part has no name")
        if part.name == FILE_FIELD:
            if self.file_seen:
                raise _invalid(FILE_FIELD, "give exactly one video")
            self.file_seen = self.in_file = True
        elif part.name in self.fields or len(self.fields) >= MAX_FIELDS:
            raise _invalid(part.name, "repeated field, or too many fields")


async def read_upload_form(
    chunks: AsyncIterator[bytes], content_type: str, *, directory: Path, max_bytes: int
) -> UploadForm:
    """Parse the body; the video is stored under ``directory``. On any error nothing stays."""
    mime, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if mime != b"multipart/form-data" or not boundary:
        raise _invalid("body", "expected multipart/form-data with a boundary")
    writer = UploadWriter(directory, max_bytes)
    reader = _FormReader(writer)
    parser = MultipartParser(boundary, cast("MultipartCallbacks", reader.callbacks()))
    try:
        async for chunk in chunks:
            _feed(parser, chunk)
            await reader.drain()
        parser.finalize()
        await reader.drain()
        if not reader.file_done:
            raise _invalid(FILE_FIELD, "Field required" if not reader.file_seen else "incomplete")
        video = await writer.finish()
    except BaseException:
        writer.discard()
        raise
    return UploadForm(reader.fields, video)


def _feed(parser: MultipartParser, chunk: bytes) -> None:
    try:
        parser.write(chunk)
    except MultipartParseError as exc:
        raise _invalid("body", f"malformed multipart body ({exc})") from None
