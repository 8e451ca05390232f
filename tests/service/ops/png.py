"""A minimal PNG reader (8-bit RGB/RGBA, non-interlaced: what Chromium writes) for tests."""

from __future__ import annotations

import struct
import zlib

Pixels = list[list[tuple[int, int, int]]]


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter(kind: int, line: bytearray, prior: bytearray, bpp: int) -> None:
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up = prior[i]
        corner = prior[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            line[i] = (line[i] + _paeth(left, up, corner)) & 0xFF


def read_png(data: bytes) -> Pixels:
    """Rows of (r, g, b) pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, bytearray(), b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8, depth
    assert color in (2, 6), color
    assert interlace == 0
    bpp = 4 if color == 6 else 3
    raw, stride = zlib.decompress(bytes(idat)), width * bpp
    prior, rows = bytearray(stride), []
    for y in range(height):
        start = y * (stride + 1)
        line = bytearray(raw[start + 1 : start + 1 + stride])
        _unfilter(raw[start], line, prior, bpp)
        rows.append([(line[x], line[x + 1], line[x + 2]) for x in range(0, stride, bpp)])
        prior = line
    return rows


def colored_pixels(pixels: Pixels, box: tuple[int, int, int, int] | None = None) -> int:
    """Pixels clearly not white/grey (chart ink: saturated bar and point colours)."""
    x0, y0, x1, y1 = box or (0, 0, len(pixels[0]), len(pixels))
    count = 0
    for row in pixels[y0:y1]:
        for r, g, b in row[x0:x1]:
            if max(r, g, b) - min(r, g, b) > 60:
                count += 1
    return count
