"""A local fake LLM server speaking Gemini's and OpenAI's wire formats on 127.0.0.1.

A raw asyncio HTTP/1.1 server (one request per connection) so it can misbehave the way real
providers do: hang, trickle keep-alive newlines, answer 429 with Retry-After, 5xx, refuse,
or return malformed / schema-violating JSON. ``script`` holds per-request modes (consumed in
order); after it runs out, ``mode`` applies. Every request is recorded with its arrival time.

It also speaks Gemini's Files API as the google-genai SDK drives it (INTEGRATIONS.md §2b):
``POST /upload/v1/files`` (resumable start → ``x-goog-upload-url``), ``POST`` chunks to that
URL (``upload`` / ``upload, finalize`` → ``x-goog-upload-status``), ``GET /v1/files/{id}``
answering the states in ``file_states`` in turn (e.g. PROCESSING, then ACTIVE or FAILED).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from virtuna.engine.llm.protocols import COMPONENT_NAMES, CONTENT_FACTOR_NAMES

Mode = str  # ok | bad_json | bad_schema | blank | 500 | 503 | 429 | hang | trickle | refusal


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float

    @property
    def text(self) -> str:
        """Every string in the request body (system prompt, turns, schema), joined."""
        return "\n".join(_strings(self.body))


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return []


def default_answer(prompt: str) -> dict[str, Any]:
    """A valid answer for whichever schema the prompt asks for."""
    if "(ContentOut)" in prompt:
        return {
            "factors": [
                {
                    "name": name,
                    "score": 7.5 + 0.2 * i,
                    "rationale": f"{name} looks strong.",
                    "improvement_tip": f"Push {name.lower()} further.",
                }
                for i, name in enumerate(CONTENT_FACTOR_NAMES)
            ],
            "overall_impression": "A clear, well-paced draft.",
            "content_summary": "A cooking tip.",
        }
    if "(ReasoningOut)" in prompt:
        return {
            "components": dict.fromkeys(COMPONENT_NAMES, 7.8),
            "behavioral": {
                "completion_pct": 62,
                "share_pct": 2.1,
                "comment_pct": 0.8,
                "save_pct": 1.4,
            },
            "suggestions": [{"text": "Open on the result.", "priority": "high"}],
            "warnings": [],
        }
    if "(RulesOut)" in prompt:
        match = re.search(r"Rules \(JSON\):\n(.*?)\n\nDraft text", prompt, re.S)
        names = [rule["name"] for rule in json.loads(match.group(1))] if match else []
        return {"scores": [{"rule": name, "score": 8.0} for name in names]}
    raise AssertionError("prompt names no known schema")


@dataclass
class FakeLLMServer:
    mode: Mode = "ok"
    script: list[Mode] = field(default_factory=list)
    retry_after: str | None = None
    delay: float = 0.0
    answer: Callable[[str], dict[str, Any]] = default_answer
    seen: list[Seen] = field(default_factory=list)
    file_states: list[str] = field(default_factory=lambda: ["PROCESSING", "ACTIVE"])
    files: dict[str, bytes] = field(default_factory=dict)  # live "files/…" name -> bytes
    uploaded: dict[str, bytes] = field(default_factory=dict)  # every upload, deleted or not
    file_polls: int = 0
    deleted: list[str] = field(default_factory=list)  # files the client deleted
    _sessions: dict[str, bytearray] = field(default_factory=dict)
    _mime: dict[str, str] = field(default_factory=dict)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> str:
        """Start listening (once); the base URL."""
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await asyncio.sleep(0.01)  # let accepted-but-unstarted handlers run (and close)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def count(self, fragment: str = "") -> int:
        return sum(fragment in s.path for s in self.seen)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        with contextlib.suppress(asyncio.CancelledError):  # close() ends hung handlers
            await self._handle(reader, writer)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path = lines[0].split(" ")[:2]
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if path.startswith(("/upload/", "/upload-session/")) or (
                method in ("GET", "DELETE") and "/files/" in path
            ):
                writer.write(self._files_api(method, path, headers, body))
                await writer.drain()
                return
            seen = Seen(path, headers, json.loads(body or b"{}"), time.monotonic())
            self.seen.append(seen)
            mode = self.script.pop(0) if self.script else self.mode
            if self.delay:
                await asyncio.sleep(self.delay)
            await self._respond(writer, seen, mode)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writer.wait_closed()

    async def _respond(self, writer: asyncio.StreamWriter, seen: Seen, mode: Mode) -> None:
        gemini = "generateContent" in seen.path
        if mode == "hang":
            await asyncio.sleep(3600)
        if mode == "trickle":
            writer.write(_head(200, {"transfer-encoding": "chunked"}))
            while True:  # DeepSeek's keep-alive under load: a newline now and then, forever
                writer.write(b"1\r\n\n\r\n")
                await writer.drain()
                await asyncio.sleep(0.2)
        if mode in {"500", "503", "429", "402"}:
            extra = {"retry-after": self.retry_after} if self.retry_after else {}
            payload = _error(int(mode), gemini)
            writer.write(_head(int(mode), extra, payload))
            await writer.drain()
            return
        payload = (
            _gemini_ok(seen, mode, self.answer) if gemini else _openai_ok(seen, mode, self.answer)
        )
        writer.write(_head(200, {}, payload))
        await writer.drain()

    def _files_api(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
        self.seen.append(Seen(path, headers, {"size": len(body)}, time.monotonic()))
        host = headers.get("host", "127.0.0.1")
        if path.startswith("/upload/"):  # resumable start
            ident = f"f{len(self._sessions) + 1}"
            self._sessions[ident] = bytearray()
            self._mime[ident] = headers.get("x-goog-upload-header-content-type", "")
            extra = {
                "x-goog-upload-url": f"http://{host}/upload-session/{ident}",
                "x-goog-upload-status": "active",
            }
            return _head(200, extra, b"{}")
        if path.startswith("/upload-session/"):
            ident = path.rsplit("/", 1)[1]
            self._sessions[ident] += body
            if "finalize" not in headers.get("x-goog-upload-command", ""):
                return _head(200, {"x-goog-upload-status": "active"}, b"{}")
            self.files[f"files/{ident}"] = bytes(self._sessions[ident])
            self.uploaded[f"files/{ident}"] = self.files[f"files/{ident}"]
            payload = json.dumps({"file": self._file(ident, host, "PROCESSING")}).encode()
            return _head(200, {"x-goog-upload-status": "final"}, payload)
        ident = path.split("?")[0].rsplit("/", 1)[1]
        if f"files/{ident}" not in self.files:
            return _head(404, {}, _error(404, True))
        if method == "DELETE":
            self.deleted.append(f"files/{ident}")
            del self.files[f"files/{ident}"]
            return _head(200, {}, b"{}")
        self.file_polls += 1
        state = self.file_states.pop(0) if len(self.file_states) > 1 else self.file_states[0]
        return _head(200, {}, json.dumps(self._file(ident, host, state)).encode())

    def _file(self, ident: str, host: str, state: str) -> dict[str, Any]:
        file: dict[str, Any] = {
            "name": f"files/{ident}",
            "uri": f"http://{host}/v1/files/{ident}",
            "mimeType": self._mime.get(ident, "video/mp4"),
            "sizeBytes": str(len(self._sessions.get(ident, b""))),
            "state": state,
        }
        if state == "FAILED":
            file["error"] = {"code": 400, "message": "The video could not be processed."}
        return file


def _head(status: int, headers: dict[str, str], body: bytes | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} X", "connection: close"]
    if body is not None:
        lines += ["content-type: application/json", f"content-length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def _error(status: int, gemini: bool) -> bytes:
    if gemini:
        names = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
        error = {"code": status, "status": names.get(status, "ERROR"), "message": "fake failure"}
    else:
        error = {"message": "fake failure", "type": "server_error", "param": None, "code": None}
    return json.dumps({"error": error}).encode()


def _answer_text(seen: Seen, mode: Mode, answer: Callable[[str], dict[str, Any]]) -> str:
    if mode == "bad_json":
        return '{"factors": [oops'
    if mode == "blank":
        return "   "
    if mode == "bad_schema":
        return json.dumps({"factors": [], "note": "wrong shape"})
    if mode == "fenced":
        return "```json\n" + json.dumps(answer(seen.text)) + "\n```"
    return json.dumps(answer(seen.text))


def _gemini_ok(seen: Seen, mode: Mode, answer: Callable[[str], dict[str, Any]]) -> bytes:
    if mode == "refusal":
        candidate: dict[str, Any] = {"finishReason": "SAFETY", "index": 0}
    else:
        text = _answer_text(seen, mode, answer)
        candidate = {
            "content": {"role": "model", "parts": [{"text": text}]},
            "finishReason": "STOP",
            "index": 0,
        }
    return json.dumps(
        {
            "candidates": [candidate],
            "usageMetadata": {
                "promptTokenCount": 1200,
                "candidatesTokenCount": 300,
                "totalTokenCount": 1500,
            },
            "modelVersion": "gemini-fake",
        }
    ).encode()


def _openai_ok(seen: Seen, mode: Mode, answer: Callable[[str], dict[str, Any]]) -> bytes:
    message: dict[str, Any] = {"role": "assistant", "content": None}
    if mode == "refusal":
        message["refusal"] = "I can't help with that."
    else:
        message["content"] = _answer_text(seen, mode, answer)
    return json.dumps(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1763630000,
            "model": seen.body.get("model", "fake"),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": 1000,
                "completion_tokens": 250,
                "total_tokens": 1250,
                "prompt_cache_hit_tokens": 200,
                "prompt_cache_miss_tokens": 800,
            },
        }
    ).encode()
