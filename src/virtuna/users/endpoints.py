"""User routes."""

from __future__ import annotations

from fastapi import APIRouter

from virtuna.kit.web import ERRORS_AUTH
from virtuna.users.auth import CurrentUser
from virtuna.users.schemas import UserRead

router = APIRouter(prefix="/api", tags=["users"])


@router.get("/profile", response_model=UserRead, responses=ERRORS_AUTH)
async def get_profile(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)
