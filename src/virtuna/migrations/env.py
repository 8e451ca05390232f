"""Alembic environment: runs on a sync connection handed in by ``virtuna.kit.migrate``.

On PostgreSQL a session-level advisory lock serialises concurrent starters, so several
processes booting at once migrate exactly once; the others wait, then find the schema at head.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection, create_engine, text

from virtuna.models import Base

MIGRATION_LOCK_KEY = 7_411_003_001  # arbitrary, constant: "virtuna migrations"

config = context.config
target_metadata = Base.metadata


def _record_step(ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
    # The caller counts applied steps to report (and tests to prove) who migrated.
    revision = step.up_revision_id if step.is_upgrade else step.down_revision_ids
    config.attributes.setdefault("applied", []).append(str(revision))


def _run(connection: Connection) -> None:
    is_pg = connection.dialect.name == "postgresql"
    if is_pg:
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        connection.commit()
    try:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            on_version_apply=_record_step,
        )
        with context.begin_transaction():
            context.run_migrations()
    finally:
        if is_pg:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
            connection.commit()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


run_migrations_online()
