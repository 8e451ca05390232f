"""Which video container a file is, from its first bytes (never its name or Content-Type).

MP4 / MOV (ISO base media): bytes 4–8 are ``ftyp``; the major brand ``qt  `` is QuickTime
WebM / Matroska (EBML):     starts 1A 45 DF A3; the DocType element says ``webm``
"""

from __future__ import annotations

from virtuna.engine.video import Container

SNIFF_BYTES = 64  # enough for the ftyp box and the EBML header's DocType
EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_WEBM_DOCTYPE = b"\x42\x82"  # EBML DocType element id


def sniff_container(head: bytes) -> Container | None:
    """The container of a file starting with ``head``, or None when it is not a video we take."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "mov" if head[8:12] == b"qt  " else "mp4"
    if head.startswith(EBML_MAGIC):
        at = head.find(_WEBM_DOCTYPE)
        if at >= 0 and head[at + 3 : at + 7] == b"webm":
            return "webm"
        return "mkv"
    return None
