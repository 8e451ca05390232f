"""Build the prediction engine once per process from settings and the database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog

from virtuna.config import Settings
from virtuna.engine.bundle import ModelBundle, load_default_bundle
from virtuna.engine.pipeline import Engine
from virtuna.engine.rules import Rule
from virtuna.kit.db import READ_ONLY, unit_of_work
from virtuna.kit.web import AppState
from virtuna.predictions.rules import load_rules, seed_rules

log = structlog.get_logger("virtuna.predictions")


def load_predictor(settings: Settings) -> ModelBundle | None:
    """The configured model bundle, else the one shipped in the package, else none."""
    if settings.model_dir is not None:
        return ModelBundle.load(settings.model_dir)
    return load_default_bundle()


def build_engine(settings: Settings, rules: list[Rule]) -> Engine:
    predictor = load_predictor(settings)
    log.info(
        "engine.built", model_version=predictor.version if predictor else None, rules=len(rules)
    )
    return Engine(predictor=predictor, rules=rules)


@asynccontextmanager
async def engine_hook(state: AppState) -> AsyncIterator[None]:
    """Lifespan hook: seed (with the migrations) and load the rules, build the engine."""
    if state.settings.auto_migrate:
        async with unit_of_work(state.sessions) as session:
            await seed_rules(session)
    async with state.sessions() as session:
        await session.connection(execution_options=READ_ONLY)
        rules = await load_rules(session)
    state.extras["engine"] = build_engine(state.settings, rules)
    yield
