"""The rule library in the database, seeded from the packaged versioned data file."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.engine.rules import DEFAULT_RULES_RESOURCE, Rule, rule_from_mapping
from virtuna.models import Rule as RuleRow
from virtuna.predictions import repository


def _packaged() -> tuple[str, list[dict[str, Any]]]:
    text = resources.files("virtuna.engine").joinpath("data", DEFAULT_RULES_RESOURCE).read_text()
    data = json.loads(text)
    return str(data["version"]), list(data["rules"])


async def seed_rules(session: AsyncSession) -> int:
    """Insert packaged rules missing from the table; never overwrite measured state."""
    version, specs = _packaged()
    present = await repository.all_rule_names(session)
    added = 0
    for spec in specs:
        if spec["name"] in present:
            continue
        rule = rule_from_mapping(spec)
        session.add(
            RuleRow(
                name=rule.name,
                category=rule.category,
                platform=rule.platform,
                tier=rule.tier,
                pattern=rule.pattern,
                evaluation_prompt=rule.evaluation_prompt,
                weight=rule.weight,
                max_score=rule.max_score,
                active=rule.active,
                source_version=version,
                spec=spec,
            )
        )
        added += 1
    await session.flush()
    return added


async def load_rules(session: AsyncSession) -> list[Rule]:
    """Active rules as engine values; the row's weight/active/lift win over the seed spec."""
    rules = []
    for row in await repository.active_rules(session):
        rule = rule_from_mapping(row.spec)
        rules.append(
            dataclasses.replace(rule, weight=row.weight, active=row.active, measured_lift=row.lift)
        )
    return rules
