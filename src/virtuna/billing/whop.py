"""Whop's events in our terms: which change they make to a subscription (no I/O here).

Whop's current event names and the legacy ones older webhooks still send map to the same
changes (INTEGRATIONS.md §4). Anything else is acknowledged and ignored.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


class Change(enum.Enum):
    ACTIVATE = "activate"
    DEACTIVATE = "deactivate"
    PAID = "paid"
    PAYMENT_FAILED = "payment_failed"


EVENTS: dict[str, Change] = {
    "membership.activated": Change.ACTIVATE,
    "membership.went_valid": Change.ACTIVATE,
    "app_membership.went_valid": Change.ACTIVATE,
    "membership.deactivated": Change.DEACTIVATE,
    "membership.went_invalid": Change.DEACTIVATE,
    "app_membership.went_invalid": Change.DEACTIVATE,
    "payment.succeeded": Change.PAID,
    "app_payment.succeeded": Change.PAID,
    "payment.failed": Change.PAYMENT_FAILED,
    "app_payment.failed": Change.PAYMENT_FAILED,
    "membership.payment_failed": Change.PAYMENT_FAILED,
}
# Membership statuses (sync and membership payloads) that mean "has access".
ACTIVE_STATUSES = frozenset({"active", "trialing", "past_due", "canceling", "completed"})


@dataclass(frozen=True, slots=True)
class WhopChange:
    change: Change
    membership_id: str | None
    external_user_id: str | None
    product_id: str | None
    plan_id: str | None
    period_end: datetime | None
    occurred_at: datetime | None
    virtuna_user_id: str | None
    email: str | None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _time(value: Any) -> datetime | None:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def parse(event_type: str, envelope: dict[str, Any]) -> WhopChange | None:
    """The change an event asks for, or None for events we do not act on."""
    change = EVENTS.get(event_type)
    data = envelope.get("data")
    if change is None or not isinstance(data, dict):
        return None
    metadata = _dict(data.get("metadata"))
    user = _dict(data.get("user"))
    is_payment = change in (Change.PAID, Change.PAYMENT_FAILED) and event_type != (
        "membership.payment_failed"
    )
    return WhopChange(
        change=change,
        membership_id=_str(data.get("membership_id") if is_payment else data.get("id")),
        external_user_id=_str(data.get("user_id")) or _str(user.get("id")),
        product_id=_str(data.get("product_id")),
        plan_id=_str(data.get("plan_id")),
        period_end=_time(data.get("current_period_end") or data.get("renewal_period_end")),
        occurred_at=_time(envelope.get("timestamp")),
        virtuna_user_id=_str(metadata.get("virtuna_user_id")),
        email=_str(metadata.get("email"))
        or _str(user.get("email"))
        or _str(data.get("customer_email")),
    )


def plan_for(plan_map: dict[str, str], change: WhopChange) -> str | None:
    """Our plan for the Whop product or plan id; None when neither is mapped."""
    for key in (change.plan_id, change.product_id):
        if key and key in plan_map:
            return plan_map[key]
    return None


def from_membership(membership: dict[str, Any]) -> WhopChange:
    """A membership as the API returns it (sync), read as the change it implies."""
    status = str(membership.get("status", ""))
    envelope = {"data": membership}
    change_type = "membership.activated" if status in ACTIVE_STATUSES else "membership.deactivated"
    parsed = parse(change_type, envelope)
    assert parsed is not None
    return parsed
