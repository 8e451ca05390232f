"""Reliability diagram and confusion matrix as PNG without matplotlib.

A 40-line PNG encoder (zlib + crc32 from the standard library) keeps plotting optional
and dependency-free. The images carry no text; the axes are fixed and described in
``docs/MODEL_CARD.md``: reliability = confidence bins 0→1 left to right, bar height =
accuracy, grey diagonal = perfect calibration, red tick = mean confidence of the bin;
confusion = actual tier top→bottom, predicted tier left→right, darker = larger share
of the actual tier's rows.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]  # height × width × 3


def write_png(path: Path, image: Image) -> Path:
    height, width, _ = image.shape
    raw = b"".join(b"\x00" + image[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
    path.write_bytes(png + chunk(b"IEND", b""))
    return path


def reliability_image(bins: Sequence[tuple[float, float, int]], size: int = 300) -> Image:
    """Bars of accuracy at each bin's mean confidence; the diagonal is perfect calibration."""
    img = np.full((size, size, 3), 255, dtype=np.uint8)
    for i in range(size):
        img[size - 1 - i, i] = (160, 160, 160)
    bar = max(size // 20, 2)
    for conf, acc, _count in bins:
        x = min(int(conf * (size - 1)), size - bar)
        top = size - 1 - int(acc * (size - 1))
        img[top:, x : x + bar] = (70, 110, 200)
        tick = size - 1 - int(conf * (size - 1))
        img[max(tick - 1, 0) : tick + 2, x : x + bar] = (220, 40, 40)
    return img


def confusion_image(matrix: Sequence[Sequence[int]], cell: int = 60) -> Image:
    """Row-normalised heat map: darker blue = larger share of that actual tier."""
    m = np.asarray(matrix, dtype=np.float64)
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1.0)
    n = m.shape[0]
    img = np.full((n * cell, n * cell, 3), 255, dtype=np.uint8)
    for r in range(n):
        for c in range(n):
            shade = 1.0 - share[r, c]
            colour = (int(255 * shade), int(255 * shade), 255)
            img[r * cell + 1 : (r + 1) * cell - 1, c * cell + 1 : (c + 1) * cell - 1] = colour
    return img
