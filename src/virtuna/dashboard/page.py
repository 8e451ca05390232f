"""The dashboard as one self-contained HTML page: inline CSS and inline SVG, no scripts."""

from __future__ import annotations

from html import escape

from virtuna.dashboard.service import BINS, LABELS, Dashboard, DriftView
from virtuna.dashboard.svg import ReliabilityPoint, Series, bar_chart, reliability_chart

STYLE = """
body{font-family:system-ui,sans-serif;margin:16px;background:#f3f4f6;color:#111827}
h1{font-size:20px;margin:0 0 4px}.sub{color:#6b7280;font-size:12px;margin-bottom:12px}
.grid{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:6px;padding:8px}
.card p{font-size:12px;margin:4px 0;max-width:560px}
table{border-collapse:collapse;font-size:12px}td,th{padding:2px 6px;border-bottom:1px solid #eee;
text-align:left}
"""
DECILES = [f"{10 * i}-{10 * i + 10}" for i in range(BINS)]


def _card(chart: str, note: str = "") -> str:
    extra = f"<p>{escape(note)}</p>" if note else ""
    return f'<div class="card">{chart}{extra}</div>'


def confidence_card(data: Dashboard) -> str:
    labels = [f"{i / BINS:.1f}" for i in range(BINS)]
    chart = bar_chart(
        "confidence",
        f"Confidence of served analyses, last {data.days} days",
        labels,
        [Series("analyses", data.confidence_bins)],
        y_label="analyses",
    )
    counts = ", ".join(f"{name} {data.confidence_labels.get(name, 0)}" for name in LABELS)
    return _card(chart, f"By label: {counts}.")


def cost_card(data: Dashboard) -> str:
    costs = data.costs
    series = [Series(model, values) for model, values in sorted(costs.models.items())]
    chart = bar_chart(
        "cost",
        f"LLM cost per day and model (cents), last {data.days} days",
        [d[5:] for d in costs.days],
        series,
        stacked=True,
        y_label="cents",
    )
    return _card(chart, f"Total {costs.total_cents:.4f} cents.")


def jobs_card(data: Dashboard) -> str:
    names = sorted(data.runs_by_status)
    statuses = ("succeeded", "failed", "running", "queued", "cancelled")
    colors = ("#16a34a", "#dc2626", "#2563eb", "#9ca3af", "#ca8a04")
    series = [
        Series(status, [data.runs_by_status[n].get(status, 0) for n in names], color)
        for status, color in zip(statuses, colors, strict=True)
    ]
    chart = bar_chart(
        "jobs",
        f"Job runs by status, last {data.days} days",
        [n[:14] for n in names],
        series,
        stacked=True,
        y_label="runs",
    )
    rows = "".join(
        f"<tr><td>{escape(r.task_name)}</td><td>{escape(r.status)}</td>"
        f"<td>{escape(r.trigger)}</td><td>{r.created_at:%Y-%m-%d %H:%M}</td>"
        f"<td>{escape((r.error or '')[:80])}</td></tr>"
        for r in data.recent_runs
    )
    table = (
        '<table class="runs"><tr><th>job</th><th>status</th><th>trigger</th>'
        f"<th>created (UTC)</th><th>error</th></tr>{rows}</table>"
    )
    return f'<div class="card">{chart}{table}</div>'


def calibration_card(data: Dashboard) -> str:
    cal = data.calibration
    points = [
        ReliabilityPoint(
            mean_confidence=float(b.get("mean_confidence") or 0.0),
            observed_rate=float(b.get("observed_rate") or 0.0),
            count=int(b.get("count") or 0),
        )
        for b in cal.bins
    ]
    chart = reliability_chart("reliability", "Calibration reliability (latest audit)", points)
    if cal.stored_at is None:
        return _card(chart, "No calibration audit has been stored yet.")
    ece = "n/a" if cal.ece is None else f"{cal.ece:.3f}"
    return _card(chart, f"Audit stored {cal.stored_at}; {cal.rows} joined rows; ECE {ece}.")


def _psi_text(value: float | None) -> str:
    if value is None:
        return "n/a (no data)"
    verdict = "stable" if value < 0.1 else "moderate shift" if value < 0.25 else "major shift"
    return f"{value:.3f} ({verdict})"


def drift_cards(drift: DriftView) -> str:
    week_total = sum(drift.this_week)
    week_share = [v / week_total if week_total else 0.0 for v in drift.this_week]
    ml = bar_chart(
        "drift-ml",
        "ML score: this week vs the model's reference",
        DECILES,
        [Series("this week", week_share), Series(drift.reference_name, drift.reference)],
        y_label="share",
    )
    total_now, total_before = sum(drift.overall_week), sum(drift.overall_before)
    overall = bar_chart(
        "drift-overall",
        "Overall score: this week vs the 3 weeks before",
        DECILES,
        [
            Series("this week", [v / total_now if total_now else 0.0 for v in drift.overall_week]),
            Series(
                "3 weeks before",
                [v / total_before if total_before else 0.0 for v in drift.overall_before],
            ),
        ],
        y_label="share",
    )
    note = (
        f"Model {drift.model_version or 'none'}: {week_total} ML scores this week; PSI vs "
        f"reference ({drift.reference_name}) {_psi_text(drift.psi_ml)}. The score is the "
        "predicted views' percentile among training videos, so actual training views are "
        "uniform on it; predictions shrink toward the middle, so judge the PSI's trend."
    )
    return _card(ml, note) + _card(
        overall, f"PSI this week vs before: {_psi_text(drift.psi_overall)}."
    )


def render(data: Dashboard) -> str:
    cards = [
        confidence_card(data),
        cost_card(data),
        jobs_card(data),
        calibration_card(data),
        drift_cards(data.drift),
    ]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Virtuna admin</title>"
        f"<style>{STYLE}</style></head><body><h1>Virtuna admin dashboard</h1>"
        f'<div class="sub">Generated {data.generated_at:%Y-%m-%d %H:%M:%S} UTC</div>'
        f'<div class="grid">{"".join(cards)}</div></body></html>'
    )


LOGIN_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Virtuna admin</title>'
    f"<style>{STYLE}</style></head><body><h1>Virtuna admin</h1>"
    '<form method="post" action="/admin/session" class="card">'
    '<label>Admin API key <input type="password" name="api_key" id="api_key" '
    'autocomplete="off" required></label> <button type="submit" id="login">Open</button>'
    "</form></body></html>"
)
