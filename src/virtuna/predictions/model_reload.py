"""Serve the model registry's champion and follow promotions without a restart.

Which bundle a serving process uses, in order: ``VIRTUNA_MODEL_DIR`` when set (pinned: no
registry, no reload); else the registry's champion (``ml_models``, promoted by the
``retrain-ml`` job); else the bundle shipped in the package.

Every ``VIRTUNA_MODEL_REFRESH_SECONDS`` a background task reads the champion's version (one
indexed row). When it changed, the bundle is loaded in a thread (from its path, or from
the zip stored in the registry when this host does not have the files) and a new engine
object replaces the old one in one assignment: requests already running keep the engine
they started with, new requests get the new model and its blend weights. A failed check
or load is logged and the current model keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from virtuna.config import Settings
from virtuna.engine.aggregate import Weights
from virtuna.engine.bundle import BundleError, ModelBundle, load_stored
from virtuna.engine.pipeline import Engine
from virtuna.kit.db import READ_ONLY
from virtuna.kit.web import AppState
from virtuna.models.ml import CHAMPION, MLModel

log = structlog.get_logger("virtuna.predictions")
ENGINE_KEY = "engine"


def model_weights(bundle: ModelBundle | None) -> Weights:
    """The blend weights fitted for this model, else the aggregate's base weights."""
    return bundle.blend.weights() if bundle is not None and bundle.blend is not None else Weights()


def cache_dir(settings: Settings) -> Path:
    return settings.data_dir / "models"


async def champion_version(session: AsyncSession) -> str | None:
    await session.connection(execution_options=READ_ONLY)
    version: str | None = await session.scalar(
        select(MLModel.version).where(MLModel.status == CHAMPION)
    )
    return version


async def load_champion(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, version: str
) -> ModelBundle | None:
    async with sessions() as session:
        await session.connection(execution_options=READ_ONLY)
        row = await session.scalar(select(MLModel).where(MLModel.version == version))
    if row is None:
        return None
    return await asyncio.to_thread(
        load_stored, row.version, row.path, row.bundle_zip, cache_dir(settings)
    )


async def registry_champion(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> ModelBundle | None:
    """The champion's bundle; None when pinned, or the registry is empty or unreadable.

    Used by the API's lifespan and by one-shot CLI commands, so both serve the same model.
    """
    if settings.model_dir is not None:
        return None
    try:
        async with sessions() as session:
            version = await champion_version(session)
        return None if version is None else await load_champion(sessions, settings, version)
    except (SQLAlchemyError, BundleError, OSError) as exc:
        log.warning("ml.registry.unavailable", error=f"{type(exc).__name__}: {exc}")
        return None


class ModelWatcher:
    """Polls the registry and swaps the served engine when the champion changes."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    @property
    def served_version(self) -> str | None:
        engine: Engine = self.state.extras[ENGINE_KEY]
        return engine.predictor.version if engine.predictor is not None else None

    async def check(self) -> bool:
        """One look at the registry; True when a new champion was swapped in."""
        async with self.state.sessions() as session:
            version = await champion_version(session)
        if version is None or version == self.served_version:
            return False
        bundle = await load_champion(self.state.sessions, self.state.settings, version)
        if bundle is None:
            return False
        previous = self.served_version
        engine: Engine = self.state.extras[ENGINE_KEY]
        self.state.extras[ENGINE_KEY] = engine.with_model(bundle, model_weights(bundle))
        log.info("ml.model.reloaded", previous=previous, version=bundle.version)
        return True

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.check()
            except (SQLAlchemyError, BundleError, OSError) as exc:
                log.warning("ml.model.reload_failed", error=f"{type(exc).__name__}: {exc}")


@asynccontextmanager
async def watch_champion(state: AppState) -> AsyncIterator[ModelWatcher | None]:
    """Run the watcher for the lifespan (unless the model is pinned or refresh is off)."""
    settings = state.settings
    if settings.model_dir is not None or settings.model_refresh_seconds <= 0:
        yield None
        return
    watcher = ModelWatcher(state)
    task = asyncio.create_task(watcher.run(settings.model_refresh_seconds))
    try:
        yield watcher
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
