"""Median views of the ranked keys' newest bucket, per window, in one pass.

PostgreSQL computes them (``percentile_cont(0.5)``: the mean of the two middle values, the
same as Python's for integer views), so one row per key crosses the wire; SQLite has no
percentile, so the views come back and the median is taken here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from virtuna.engine.history import median
from virtuna.models import Video, VideoHashtag
from virtuna.trends.series import Plan, known, views_at


def _median_query(
    plan: Plan, wanted: dict[int, set[str]], since: dict[int, datetime], *, sounds: bool, pg: bool
) -> Select[Any]:
    """PostgreSQL: (key, one median per window); SQLite: (key, posted_at, views) rows."""
    key = Video.sound_key if sounds else VideoHashtag.tag
    posted = Video.posted_at if sounds else VideoHashtag.posted_at
    views = views_at(plan.as_of)
    every = sorted(set().union(*wanted.values()))
    where = [*known(Plan(plan.as_of, (max(wanted),), 1), posted), key.in_(every)]
    if pg:
        medians = [
            func.percentile_cont(0.5)
            .within_group(views)
            .filter(and_(posted >= since[w], key.in_(sorted(wanted[w]))))
            for w in wanted
        ]
        stmt = select(key, *medians).where(*where).group_by(key)
    else:
        stmt = select(key, posted, views).where(*where)
    return stmt if sounds else stmt.join(Video, Video.id == VideoHashtag.video_id)


async def current_medians(
    session: AsyncSession, plan: Plan, keys: Mapping[int, Sequence[str]], *, sounds: bool
) -> dict[int, dict[str, float]]:
    """Per window, median views of the known videos of each of its ``keys`` in its newest
    bucket — one pass over the longest window's newest bucket for every window.

    PostgreSQL computes it (``percentile_cont(0.5)``: the mean of the two middle values, the
    same as Python's for integer views), so one row per key crosses the wire; SQLite has no
    percentile, so the views come back and the median is taken here.
    """
    wanted = {w: set(k) for w, k in keys.items() if k}
    result: dict[int, dict[str, float]] = {w: {} for w in keys}
    if not wanted:
        return result
    since = {w: plan.as_of - timedelta(days=w) for w in wanted}
    pg = session.get_bind().dialect.name == "postgresql"
    stmt = _median_query(plan, wanted, since, sounds=sounds, pg=pg)
    rows = (await session.execute(stmt)).all()
    if not pg:
        return _python_medians(rows, wanted, since, result)
    for row in rows:
        for window, value in zip(wanted, row[1:], strict=True):
            if value is not None:
                result[window][str(row[0])] = float(value)
    return result


def _python_medians(
    rows: Sequence[Any],
    wanted: dict[int, set[str]],
    since: dict[int, datetime],
    result: dict[int, dict[str, float]],
) -> dict[int, dict[str, float]]:
    found: dict[int, dict[str, list[int]]] = {w: defaultdict(list) for w in wanted}
    for k, posted, v in rows:
        for window, chosen in wanted.items():
            if posted >= since[window] and str(k) in chosen:
                found[window][str(k)].append(int(v or 0))
    for window, values in found.items():
        result[window] = {k: median(v) for k, v in values.items()}
    return result


__all__ = ["current_medians"]
