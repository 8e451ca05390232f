"""S1: property-based run over every operation of the OpenAPI schema, authenticated.

The app runs for real (its own SQLite database, lifespan, engine, shipped model) inside a
portal thread; hypothesis drives cases generated from the schema through an httpx client.
Checks: no server errors, responses conform to the schema, and no /api route serves a
request without a key (schemathesis' ``ignored_auth`` condition).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from virtuna.api.app import create_app
from virtuna.config import Environment, Settings
from virtuna.kit.db import unit_of_work
from virtuna.users import service as users

MAX_EXAMPLES = 100


class LiveApp:
    def __init__(self, portal: BlockingPortal, client: httpx.AsyncClient, key: str) -> None:
        self.portal, self.client, self.key = portal, client, key
        self.served: dict[int, int] = {}

    def send(self, kwargs: dict[str, Any]) -> httpx.Response:
        if kwargs.get("files"):
            kwargs["files"] = _encodable(kwargs["files"])

        async def send() -> httpx.Response:
            request = self.client.build_request(**kwargs)
            request.read()  # a multipart body is a stream: read it so checks can see it
            return await self.client.send(request)

        return self.portal.call(send)


def _encodable(files: Any) -> list[tuple[str, Any]]:
    """schemathesis builds multipart ``files`` for requests, which stringifies numbers and
    tolerates lone surrogates; httpx encodes only str/bytes, so do what requests would."""

    def text(value: str) -> str:
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")

    def data(value: Any) -> bytes:
        if isinstance(value, bytes):
            return value
        return (text(value) if isinstance(value, str) else str(value)).encode()

    items = files.items() if isinstance(files, dict) else files
    out: list[tuple[str, Any]] = []
    for name, spec in items:
        if isinstance(spec, tuple):
            filename, value, *rest = spec
            spec = (filename if filename is None else text(filename), data(value), *rest)
        else:
            spec = data(spec)
        out.append((text(name), spec))
    return out


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveApp, Any]]:
    data: Path = tmp_path_factory.mktemp("st")
    app = create_app(
        Settings(
            VIRTUNA_ENV=Environment.TEST,
            VIRTUNA_DATA_DIR=data,
            LOG_LEVEL="WARNING",
            VIRTUNA_AUTH_FAILURES_PER_MINUTE=1_000_000,
            # Uploads that fail validation count as requests too; the burst limit is not
            # what this test is about (S8 is), so it must not starve the 200 check below.
            VIRTUNA_PLAN_RATE_LIMITS="free:unlimited",
            _env_file=None,
        )
    )
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(app.router.lifespan_context(app)),
    ):

        async def make_key() -> str:
            async with unit_of_work(app.state.virtuna.sessions) as session:
                return (await users.create_user(session, email="st@example.com")).api_key

        key = portal.call(make_key)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )
        schema = schemathesis.openapi.from_dict(app.openapi())
        yield LiveApp(portal, client, key), schema
        portal.call(client.aclose)


BODY_TYPES: dict[str, int] = {}  # operation -> how many request media types it accepts


def _cases() -> list[tuple[str, GenerationMode]]:
    """Every operation in positive mode; those that take input in negative mode too."""
    app = create_app(Settings(_env_file=None))
    out = []
    for path, ops in app.openapi()["paths"].items():
        for method, op in ops.items():
            BODY_TYPES[f"{method.upper()} {path}"] = len(
                op.get("requestBody", {}).get("content", {})
            )
            out.append((f"{method.upper()} {path}", GenerationMode.POSITIVE))
            if op.get("parameters") or op.get("requestBody"):
                out.append((f"{method.upper()} {path}", GenerationMode.NEGATIVE))
    return out


@pytest.mark.parametrize(("operation_id", "mode"), _cases())
def test_operation_never_errors_and_matches_schema(
    live: tuple[LiveApp, Any], operation_id: str, mode: GenerationMode
) -> None:
    app, schema = live
    method, path = operation_id.split(" ", 1)
    operation = schema[path][method]

    @settings(
        # MAX_EXAMPLES per request body type (POST /api/analyze takes JSON and multipart).
        max_examples=MAX_EXAMPLES * max(1, BODY_TYPES.get(operation_id, 1)),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), authed=st.booleans())
    def run(case: Any, authed: bool) -> None:
        headers = {"Authorization": f"Bearer {app.key}"} if authed else {}
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
        kwargs.pop("follow_redirects", None)
        if not kwargs.get("cookies"):
            kwargs.pop("cookies", None)
        if isinstance(kwargs.get("data"), bytes | str):  # raw body: httpx wants content=
            kwargs["content"] = kwargs.pop("data")
        response = app.send(kwargs)
        if authed:
            app.served[response.status_code] = app.served.get(response.status_code, 0) + 1
        case.validate_response(
            response, checks=[not_a_server_error, response_schema_conformance], headers=headers
        )
        if not authed and path.startswith("/api/"):
            # Never served without a key (a malformed body may be refused first, with 4xx).
            assert not 200 <= response.status_code < 300, (path, response.status_code)

    run()
    if mode is GenerationMode.POSITIVE and operation_id.startswith("POST /api/analyze"):
        assert app.served.get(200, 0) > 0, app.served  # valid drafts really were scored
