"""``POST /api/analyze`` bodies: a JSON draft, or a video upload with the draft's fields.

The route reads the body itself (after authentication and the quota check), because letting
FastAPI bind it would buffer a whole upload in memory before the caller is even known:

- ``application/json`` (or no type): validated as a ``Draft`` exactly as a bound body is,
  with the same 422 details. ``video`` (measured signals) is refused: only the server sets it.
- ``multipart/form-data``: the ``video`` part is streamed to ``<data_dir>/uploads``
  (``media.multipart``: 413 over ``VIRTUNA_MAX_UPLOAD_MB``, 415 if the bytes are no video),
  measured (``media.service.measure``: 422 over ``VIRTUNA_MAX_VIDEO_SECONDS``), and deleted
  when the analysis is done unless ``VIRTUNA_UPLOAD_RETENTION_HOURS`` keeps it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from virtuna.config import Settings
from virtuna.engine.draft import Draft, InputMode
from virtuna.engine.video import VideoSignals
from virtuna.errors import BadRequest, ValidationFailed
from virtuna.kit.web import ERRORS_INPUT
from virtuna.media import service as media
from virtuna.media.multipart import FILE_FIELD, read_upload_form
from virtuna.predictions.service import validate_draft

SERVER_FIELDS = ("video_path", "video")  # set from the stored upload, never by the client


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith("multipart/")


async def json_draft(request: Request) -> Draft:
    """The JSON body as a ``Draft``, failing exactly like a FastAPI-bound body would."""
    body = await request.body()
    if not body:
        raise RequestValidationError([_error("missing", ("body",), "Field required")])
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        at = exc.pos if isinstance(exc, json.JSONDecodeError) else 0
        error = _error("json_invalid", ("body", at), "JSON decode error")
        raise RequestValidationError([error]) from None
    try:
        draft = Draft.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None
    if draft.video is not None:
        raise RequestValidationError([_error("extra_forbidden", ("body", "video"), _FORBIDDEN)])
    return draft


_FORBIDDEN = "Extra inputs are not permitted"


def _error(kind: str, loc: tuple[Any, ...], message: str) -> dict[str, Any]:
    return {"type": kind, "loc": loc, "msg": message, "input": None}


def refuse_measured(drafts: list[Draft]) -> None:
    """Batch bodies are JSON only: measured video signals come from uploads, not clients."""
    bad = [i for i, d in enumerate(drafts) if d.video is not None]
    if bad:
        raise RequestValidationError(
            [_error("extra_forbidden", ("body", "drafts", i, "video"), _FORBIDDEN) for i in bad]
        )


@asynccontextmanager
async def uploaded_draft(request: Request, settings: Settings) -> AsyncIterator[Draft]:
    """Stream, store and measure the upload; the draft to score. The file is released
    (deleted, unless retained) when the block ends, however it ends."""
    try:
        form = await read_upload_form(
            request.stream(),
            request.headers.get("content-type", ""),
            directory=media.uploads_dir(settings),
            max_bytes=media.upload_limit_bytes(settings),
        )
    except ClientDisconnect:  # the partial file is already removed; nobody is listening
        raise BadRequest("the client disconnected during the upload") from None
    path = form.video.path
    try:
        signals = await media.measure(path, settings=settings, field=FILE_FIELD)
        yield upload_draft(form.fields, str(path), signals)
    finally:
        await media.release(path, settings=settings)


def upload_draft(fields: Mapping[str, str], path: str, signals: VideoSignals) -> Draft:
    """The draft of an upload: its form fields (blank ones omitted) plus the stored video."""
    refused = [
        {"field": name, "message": "set by the server from the uploaded file"}
        for name in SERVER_FIELDS
        if name in fields
    ]
    mode = fields.get("input_mode", InputMode.VIDEO_UPLOAD.value)
    if mode != InputMode.VIDEO_UPLOAD.value:
        refused.append({"field": "input_mode", "message": "must be video_upload for an upload"})
    if refused:
        raise ValidationFailed(
            "invalid upload: " + ", ".join(e["field"] for e in refused), details=refused
        )
    data: dict[str, Any] = {k: v for k, v in fields.items() if v.strip()}
    data |= {"input_mode": InputMode.VIDEO_UPLOAD.value, "video_path": path, "video": signals}
    return validate_draft(data)


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(dict(defs[ref.removeprefix("#/$defs/")]))
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def _non_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A form field is present or absent, never null: drop the null branch and the default."""
    options = [o for o in prop.get("anyOf", []) if o.get("type") != "null"]
    out = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
    if options:
        out |= options[0]
    return out


def form_schema() -> dict[str, Any]:
    draft = _inline(Draft.model_json_schema())
    skip = {"input_mode", "tiktok_url", *SERVER_FIELDS}
    props = {k: _non_null(v) for k, v in draft["properties"].items() if k not in skip}
    props["input_mode"] = {"type": "string", "enum": [InputMode.VIDEO_UPLOAD.value]}
    props[FILE_FIELD] = {
        "type": "string",
        "format": "binary",
        "description": "The video (MP4, MOV, WebM or Matroska; the container is read from "
        "its bytes). At most VIRTUNA_MAX_UPLOAD_MB.",
    }
    return {"type": "object", "properties": props, "required": [FILE_FIELD]}


OPENAPI_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            # Draft is in the components because BatchRequest lists it (schemathesis would
            # fail on a dangling reference).
            "application/json": {"schema": {"$ref": "#/components/schemas/Draft"}},
            "multipart/form-data": {"schema": form_schema()},
        },
    }
}
_ERROR_SCHEMA = ERRORS_INPUT[422]
ANALYZE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERRORS_INPUT,
    415: {**_ERROR_SCHEMA, "description": "The upload is not a video (container sniffed)"},
}
