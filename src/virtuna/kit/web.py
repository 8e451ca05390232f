"""Domain-free web plumbing: the per-process state, the request's unit of work, error docs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from virtuna.config import Settings
from virtuna.kit.ratelimit import SlidingWindowLimiter


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient
    auth_failures: SlidingWindowLimiter
    extras: dict[str, Any] = field(default_factory=dict)


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.virtuna
    return state


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's one transaction: committed once after the endpoint returns."""
    async with get_state(request).sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


Session = Annotated[AsyncSession, Depends(get_session)]


def _error_schema(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "details": {},
                            },
                        }
                    },
                }
            }
        },
    }


ERRORS_AUTH: dict[int | str, dict[str, Any]] = {
    401: _error_schema("Missing or invalid API key"),
    429: _error_schema("Too many requests"),
}
ERRORS_ADMIN: dict[int | str, dict[str, Any]] = {
    **ERRORS_AUTH,
    403: _error_schema("Admin role required"),
}
ERRORS_OBJECT: dict[int | str, dict[str, Any]] = {
    **ERRORS_AUTH,
    404: _error_schema("Not found (or not yours)"),
    422: _error_schema("Invalid input; details name each field"),
}
ERRORS_INPUT: dict[int | str, dict[str, Any]] = {
    **ERRORS_AUTH,
    413: _error_schema("Request body too large"),
    422: _error_schema("Invalid input; details name each field"),
}
