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
from virtuna.predictions.llm_factory import llm_engine_options
from virtuna.predictions.model_reload import model_weights, registry_champion, watch_champion
from virtuna.predictions.rules import load_rules, seed_rules

log = structlog.get_logger("virtuna.predictions")


def load_predictor(settings: Settings) -> ModelBundle | None:
    """The configured model bundle, else the one shipped in the package, else none."""
    if settings.model_dir is not None:
        return ModelBundle.load(settings.model_dir)
    return load_default_bundle()


def build_engine(
    settings: Settings, rules: list[Rule], predictor: ModelBundle | None = None
) -> Engine:
    """The engine; ``predictor`` defaults to ``load_predictor``. The blend weights fitted
    for the model (``blend.json`` in its bundle) replace the base weights."""
    predictor = predictor or load_predictor(settings)
    log.info(
        "engine.built", model_version=predictor.version if predictor else None, rules=len(rules)
    )
    return Engine(
        predictor=predictor,
        rules=rules,
        weights=model_weights(predictor),
        **llm_engine_options(settings),
    )


@asynccontextmanager
async def engine_hook(state: AppState) -> AsyncIterator[None]:
    """Lifespan hook: seed (with the migrations) and load the rules, build the engine."""
    if state.settings.auto_migrate:
        async with unit_of_work(state.sessions) as session:
            await seed_rules(session)
    async with state.sessions() as session:
        await session.connection(execution_options=READ_ONLY)
        rules = await load_rules(session)
    # The registry's champion unless VIRTUNA_MODEL_DIR pins a bundle (model_reload.py).
    champion = await registry_champion(state.sessions, state.settings)
    state.extras["engine"] = build_engine(state.settings, rules, champion)
    async with watch_champion(state):
        yield
