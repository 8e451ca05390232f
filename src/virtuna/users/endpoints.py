"""User routes."""

from __future__ import annotations

from fastapi import APIRouter

# `GET /api/profile` lives in virtuna.billing.endpoints: it reports the plan's quota too,
# and billing sits above users in the layer order.
router = APIRouter(prefix="/api", tags=["users"])
