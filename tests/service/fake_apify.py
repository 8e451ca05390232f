"""A local server speaking the slice of the Apify API we use, for the real apify-client.

Routes (INTEGRATIONS.md §1): start a run (``/v2/acts|actors/{id}/runs``), get a run
(``/v2/actor-runs/{id}``), list dataset items with the ``x-apify-pagination-*`` headers the
client requires. Every request is recorded for assertions.
"""

from __future__ import annotations

import gzip
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


def run_object(run_id: str, dataset_id: str, status: str = "READY") -> dict[str, Any]:
    return {
        "id": run_id,
        "actId": "GdWCkxBtKWOsKjdch",
        "userId": "7sT5jcggjjA9fNcxF",
        "actorTaskId": None,
        "startedAt": "2026-11-20T10:15:02.113Z",
        "finishedAt": None if status in ("READY", "RUNNING") else "2026-11-20T10:16:40.002Z",
        "status": status,
        "statusMessage": None if status == "SUCCEEDED" else f"run is {status}",
        "meta": {"origin": "API", "userAgent": "ApifyClient/3.4.0"},
        "stats": {"inputBodyLen": 78, "restartCount": 0, "resurrectCount": 0, "computeUnits": 0},
        "options": {
            "build": "latest",
            "timeoutSecs": 3600,
            "memoryMbytes": 1024,
            "diskMbytes": 2048,
        },
        "buildId": "kTb3XEz8W2PpQvN5c",
        "buildNumber": "0.0.612",
        "exitCode": None,
        "generalAccess": "FOLLOW_USER_SETTING",
        "defaultKeyValueStoreId": "eJNzqsbPiopwJcgGQ",
        "defaultDatasetId": dataset_id,
        "defaultRequestQueueId": "FL35cSF7jrxr3BY39",
        "usageTotalUsd": 0,
    }


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeApify:
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasets: dict[str, list[Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""
    # A run whose input names ``postURLs`` finishes at once with this status, its dataset
    # holding the item of every listed URL found here (the actor skips deleted posts).
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    post_run_status: str = "SUCCEEDED"

    def add_run(self, status: str, items: list[Any]) -> str:
        run_id, dataset_id = uuid.uuid4().hex[:17], uuid.uuid4().hex[:17]
        self.runs[run_id] = run_object(run_id, dataset_id, status)
        self.datasets[dataset_id] = items
        return run_id

    def __post_init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.fake = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    @property
    def fake(self) -> FakeApify:
        fake: FakeApify = self.server.fake  # type: ignore[attr-defined]
        return fake

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _record(self) -> Recorded:
        parsed = urlparse(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        record = Recorded(
            self.command,
            parsed.path,
            parse_qs(parsed.query),
            {k.lower(): v for k, v in self.headers.items()},
            json.loads(raw) if raw else None,
        )
        self.fake.requests.append(record)
        return record

    def do_POST(self) -> None:
        record = self._record()
        parts = record.path.strip("/").split("/")
        if len(parts) == 4 and parts[1] in ("acts", "actors") and parts[3] == "runs":
            urls = record.body.get("postURLs") if isinstance(record.body, dict) else None
            if urls is None:
                run_id = self.fake.add_run("READY", [])
            else:
                found = [self.fake.posts[u] for u in urls if u in self.fake.posts]
                run_id = self.fake.add_run(self.fake.post_run_status, found)
            self._send(201, {"data": self.fake.runs[run_id]})
            return
        self._send(404, {"error": {"type": "page-not-found", "message": "no route"}})

    def do_GET(self) -> None:
        record = self._record()
        parts = record.path.strip("/").split("/")
        if parts[:2] == ["v2", "actor-runs"] and len(parts) == 3:
            run = self.fake.runs.get(parts[2])
            if run is None:
                self._send(404, {"error": {"type": "record-not-found", "message": "?"}})
            else:
                self._send(200, {"data": run})
            return
        if parts[:2] == ["v2", "datasets"] and parts[3:] == ["items"]:
            self._items(parts[2], record.query)
            return
        self._send(404, {"error": {"type": "page-not-found", "message": "no route"}})

    def _items(self, dataset_id: str, query: dict[str, list[str]]) -> None:
        items = self.fake.datasets.get(dataset_id)
        if items is None:
            self._send(404, {"error": {"type": "record-not-found", "message": "?"}})
            return
        offset = int(query.get("offset", ["0"])[0])
        limit = int(query.get("limit", ["999999999999"])[0])
        page = items[offset : offset + limit]
        headers = {
            "X-Apify-Pagination-Total": str(len(items)),
            "X-Apify-Pagination-Offset": str(offset),
            "X-Apify-Pagination-Count": str(len(page)),
            "X-Apify-Pagination-Limit": str(limit),
            "X-Apify-Pagination-Desc": "false",
        }
        self._send(200, page, headers)
