"""tiktok_url mode: fill a draft from what TikTok's oEmbed says about its link.

Runs before the read phase, outside any transaction. The caption becomes the draft's text and
the author its creator handle, only where the draft left them empty (what the user typed wins).
A refused link (allowlist, private address) is the client's error (422); a link that cannot be
resolved now leaves the draft as it is and the result says so in ``warnings``.
"""

from __future__ import annotations

import re
from typing import Annotated

import structlog
from fastapi import Depends, Request

from virtuna.engine.draft import MAX_CONTENT_CHARS, Draft, InputMode
from virtuna.errors import ValidationFailed
from virtuna.kit.web import get_state
from virtuna.videos.oembed import LinkInfo, LinkRefused, LinkUnresolved, OEmbedClient

log = structlog.get_logger("virtuna.predictions.links")
_HANDLE = re.compile(r"\A[a-z0-9._]{1,24}\Z")


def link_client(request: Request) -> OEmbedClient:
    """The app's oEmbed client (its settings, the app's shared HTTP client)."""
    state = get_state(request)
    client = state.extras.get("oembed")
    if not isinstance(client, OEmbedClient):
        s = state.settings
        client = OEmbedClient(
            state.http,
            endpoint=s.tiktok_oembed_url,
            max_redirects=s.tiktok_max_redirects,
            timeout=s.tiktok_resolve_timeout_seconds,
        )
        state.extras["oembed"] = client
    return client


LinkClient = Annotated[OEmbedClient, Depends(link_client)]


async def resolve_draft(
    draft: Draft, client: OEmbedClient, field: str = "tiktok_url"
) -> tuple[Draft, list[str]]:
    """The draft filled from its TikTok link, and warnings for the result. ``field`` names
    the link in a refusal (``drafts[3].tiktok_url`` in a batch)."""
    if draft.input_mode != InputMode.TIKTOK_URL or not draft.tiktok_url:
        return draft, []
    try:
        info = await client.lookup(draft.tiktok_url)
    except LinkRefused as exc:
        raise ValidationFailed(
            f"{field} refused: {exc.reason}",
            details=[{"field": field, "message": exc.reason}],
        ) from None
    except LinkUnresolved as exc:
        log.warning("tiktok.link.unresolved", error=str(exc))
        return draft, [
            f"The TikTok link could not be resolved ({exc}); scored from the fields given."
        ]
    return filled(draft, info), []


def filled(draft: Draft, info: LinkInfo) -> Draft:
    update: dict[str, object] = {}
    if not (draft.content_text or "").strip() and info.caption:
        update["content_text"] = info.caption[:MAX_CONTENT_CHARS]
    if draft.creator_handle is None and info.author_handle and _HANDLE.match(info.author_handle):
        update["creator_handle"] = info.author_handle
    return draft.model_copy(update=update) if update else draft
