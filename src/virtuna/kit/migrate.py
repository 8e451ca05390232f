"""Apply and inspect Alembic migrations from code (CLI, app start-up, tests)."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import NullPool

from virtuna.kit.db import sync_url


def alembic_config(async_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("virtuna") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", sync_url(async_url).replace("%", "%%"))
    return cfg


def _with_connection(async_url: str, action: str, revision: str = "heads") -> list[str]:
    cfg = alembic_config(async_url)
    engine = create_engine(sync_url(async_url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            cfg.attributes["connection"] = connection
            if action == "upgrade":
                command.upgrade(cfg, revision)
            elif action == "downgrade":
                command.downgrade(cfg, revision)
            elif action == "check":
                command.check(cfg)
            connection.commit()
    finally:
        engine.dispose()
    return list(cfg.attributes.get("applied", []))


def upgrade(async_url: str, revision: str = "heads") -> list[str]:
    """Upgrade; returns the migration steps this call applied (empty if already there)."""
    return _with_connection(async_url, "upgrade", revision)


def downgrade(async_url: str, revision: str) -> list[str]:
    return _with_connection(async_url, "downgrade", revision)


def check(async_url: str) -> None:
    """Raise if the ORM models and the migrated schema differ."""
    _with_connection(async_url, "check")


def head_revision(async_url: str) -> str | None:
    """The head revision ids, comma-joined when branches are open (sorted, stable)."""
    heads = ScriptDirectory.from_config(alembic_config(async_url)).get_heads()
    return ",".join(sorted(heads)) or None


def current_revision_of(connection: Connection) -> str | None:
    heads = MigrationContext.configure(connection).get_current_heads()
    return ",".join(sorted(heads)) or None


def current_revision(async_url: str) -> str | None:
    engine = create_engine(sync_url(async_url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return current_revision_of(connection)
    finally:
        engine.dispose()
