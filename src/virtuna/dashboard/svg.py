"""Server-side charts as inline SVG: no scripts, no fonts or files fetched, works offline.

Every chart is an ``<svg class="chart" data-chart=NAME>`` with fixed pixel size, so the
page renders identically in any browser (and in the headless-Chromium test). All text is
escaped; values are plain numbers formatted here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 560, 260
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 28, 48
PALETTE = ("#2563eb", "#f97316", "#16a34a", "#dc2626", "#9333ea", "#0891b2", "#ca8a04")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    color: str | None = None


def _fmt(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def _open(name: str, title: str) -> list[str]:
    return [
        f'<svg class="chart" data-chart="{escape(name)}" xmlns="http://www.w3.org/2000/svg" '
        f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]


def _axes(top_value: float, y_label: str) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#374151"/>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" '
        'stroke="#374151"/>',
    ]
    for i in range(5):
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">'
            f"{_fmt(top_value * i / 4)}</text>"
        )
    parts.append(
        f'<text x="12" y="{TOP + plot_h / 2:.1f}" font-size="10" '
        f'transform="rotate(-90 12 {TOP + plot_h / 2:.1f})" text-anchor="middle">'
        f"{escape(y_label)}</text>"
    )
    return parts


def _legend(series: Sequence[Series]) -> list[str]:
    step, per_row = 104, 5
    parts, x = [], WIDTH - RIGHT - step * min(len(series), per_row)
    for i, s in enumerate(series[: 2 * per_row]):
        lx, ly = x + step * (i % per_row), HEIGHT - 8 - 12 * (i // per_row)
        parts.append(
            f'<rect x="{lx}" y="{ly - 8}" width="9" height="9" fill="{_color(s, i)}"/>'
            f'<text x="{lx + 12}" y="{ly}" font-size="10">{escape(s.name[:16])}</text>'
        )
    return parts


def _color(series: Series, index: int) -> str:
    return series.color or PALETTE[index % len(PALETTE)]


def empty_chart(name: str, title: str, message: str) -> str:
    parts = _open(name, title)
    parts.append(
        f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" font-size="12" '
        f'text-anchor="middle" fill="#6b7280">{escape(message)}</text></svg>'
    )
    return "".join(parts)


def bar_chart(
    name: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    stacked: bool = False,
    y_label: str = "",
) -> str:
    """Grouped (or stacked) vertical bars, one group per label."""
    if not labels or not series or not any(v > 0 for s in series for v in s.values):
        return empty_chart(name, title, "no data yet")
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = max(totals) if stacked else max(v for s in series for v in s.values)
    top = top or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    group_w = plot_w / len(labels)
    per_bar = group_w * 0.8 / (1 if stacked else len(series))
    parts = [*_open(name, title), *_axes(top, y_label)]
    every = max(1, len(labels) // 12)
    for i, label in enumerate(labels):
        x0, base = LEFT + i * group_w + group_w * 0.1, 0.0
        for j, s in enumerate(series):
            h = plot_h * s.values[i] / top
            x = x0 if stacked else x0 + j * per_bar
            y = TOP + plot_h - h - (plot_h * base / top if stacked else 0.0)
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{max(per_bar - 1, 1):.1f}" '
                f'height="{h:.1f}" fill="{_color(s, j)}"><title>{escape(s.name)} '
                f"{escape(label)}: {_fmt(s.values[i])}</title></rect>"
            )
            base += s.values[i] if stacked else 0.0
        if i % every == 0:
            parts.append(
                f'<text x="{x0 + group_w * 0.4:.1f}" y="{TOP + plot_h + 13}" font-size="9" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts += _legend(series)
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class ReliabilityPoint:
    mean_confidence: float
    observed_rate: float
    count: int


def reliability_chart(name: str, title: str, points: Sequence[ReliabilityPoint]) -> str:
    """Observed rate against predicted confidence per bin; the diagonal is perfect."""
    used = [p for p in points if p.count > 0]
    if not used:
        return empty_chart(name, title, "no calibration report stored yet")
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    side = min(plot_w, plot_h)
    x0, y0 = LEFT, TOP + side

    def at(x: float, y: float) -> tuple[float, float]:
        return x0 + side * x, y0 - side * y

    parts = [*_open(name, title), *_axes(1.0, "observed rate")]
    (ax, ay), (bx, by) = at(0, 0), at(1, 1)
    parts.append(
        f'<line class="diagonal" x1="{ax}" y1="{ay}" x2="{bx:.1f}" y2="{by:.1f}" '
        'stroke="#9ca3af" stroke-dasharray="4 3"/>'
    )
    biggest = max(p.count for p in used)
    path = []
    for p in used:
        cx, cy = at(p.mean_confidence, p.observed_rate)
        radius = 3 + 6 * (p.count / biggest) ** 0.5
        path.append(f"{cx:.1f},{cy:.1f}")
        parts.append(
            f'<circle class="point" cx="{cx:.1f}" cy="{cy:.1f}" r="{radius:.1f}" '
            f'fill="{PALETTE[0]}" fill-opacity="0.75"><title>confidence '
            f"{p.mean_confidence:.2f}, observed {p.observed_rate:.2f}, n={p.count}</title></circle>"
        )
    parts.append(
        f'<polyline points="{" ".join(path)}" fill="none" stroke="{PALETTE[0]}" stroke-width="2"/>'
    )
    parts.append(
        f'<text x="{x0 + side / 2:.1f}" y="{y0 + 28}" font-size="10" text-anchor="middle">'
        "predicted confidence (top label)</text></svg>"
    )
    return "".join(parts)
