"""Store a verified webhook delivery exactly once (the first step of every receiver)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.models import ExternalEvent
from virtuna.models.base import utcnow


async def store_event(
    session: AsyncSession,
    *,
    source: str,
    external_id: str,
    event_type: str,
    payload: dict[str, Any],
) -> tuple[uuid.UUID, bool]:
    """Insert-on-conflict-do-nothing; returns (event id, True if this delivery was new)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    new_id = uuid.uuid4()
    stmt = (
        insert(ExternalEvent)
        .values(
            id=new_id,
            source=source,
            external_id=external_id,
            event_type=event_type,
            payload=payload,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["source", "external_id"])
        .returning(ExternalEvent.id)
    )
    inserted = await session.scalar(stmt)
    if inserted is not None:
        return inserted, True
    existing = await session.scalar(
        select(ExternalEvent.id).where(
            ExternalEvent.source == source, ExternalEvent.external_id == external_id
        )
    )
    assert existing is not None
    return existing, False
