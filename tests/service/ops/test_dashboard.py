"""`GET /admin`: admin-only HTML dashboard with inline SVG charts, and its cookie session."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.service.ops.conftest import bearer, make_user
from tests.service.ops.dashboard_seed import seed_dashboard
from virtuna.config import Settings
from virtuna.dashboard import service, session
from virtuna.dashboard.session import COOKIE

CHARTS = ("confidence", "cost", "jobs", "reliability", "drift-ml", "drift-overall")


def _chart(html: str, name: str) -> str:
    found = re.search(rf'<svg class="chart" data-chart="{name}".*?</svg>', html, re.S)
    assert found, f"chart {name} missing"
    return found.group(0)


async def test_dashboard_renders_every_chart_from_seeded_data(
    ops_client: httpx.AsyncClient, ops_settings: Settings
) -> None:
    admin_id, admin_key = await make_user(ops_settings, admin=True)
    await seed_dashboard(ops_settings, admin_id)
    response = await ops_client.get("/admin", headers=bearer(admin_key))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "<script" not in html
    assert "http://" not in html.replace("http://www.w3.org", "")
    for name in ("confidence", "cost", "jobs", "drift-ml", "drift-overall"):
        assert 'class="bar"' in _chart(html, name), name
    assert html.count('class="point"') == 7  # the seeded audit's seven non-empty bins
    assert "ECE 0.042" in html
    # 40 analyses over 20 days, all within the 30-day window, split by label.
    labels = re.search(r"By label: HIGH (\d+), MEDIUM (\d+), LOW (\d+)", html)
    assert labels
    assert sum(int(v) for v in labels.groups()) == 40
    assert "gemini-flash" in _chart(html, "cost")
    assert "deepseek-flash" in _chart(html, "cost")
    assert html.count("<tr><td>") == 9  # recent job runs table


async def test_empty_dashboard_still_renders(
    ops_client: httpx.AsyncClient, ops_settings: Settings
) -> None:
    _, admin_key = await make_user(ops_settings, admin=True)
    response = await ops_client.get("/admin", headers=bearer(admin_key))
    assert response.status_code == 200
    for name in CHARTS:
        if name == "drift-ml":  # the model's reference is drawn even before any traffic
            assert "0 ML scores this week" in response.text
            continue
        assert 'class="empty"' in _chart(response.text, name)


async def test_dashboard_auth_and_cookie_session(
    ops_client: httpx.AsyncClient, ops_settings: Settings
) -> None:
    _, user_key = await make_user(ops_settings)
    _, admin_key = await make_user(ops_settings, admin=True)
    assert (await ops_client.get("/admin")).status_code == 401
    assert (await ops_client.get("/admin", headers=bearer(user_key))).status_code == 403
    form = {"content-type": "application/x-www-form-urlencoded"}
    refused = await ops_client.post("/admin/session", content=f"api_key={user_key}", headers=form)
    assert refused.status_code == 403
    wrong = await ops_client.post("/admin/session", content="api_key=vt_nope", headers=form)
    assert wrong.status_code == 401
    assert COOKIE not in ops_client.cookies
    opened = await ops_client.post("/admin/session", content=f"api_key={admin_key}", headers=form)
    assert opened.status_code == 303
    set_cookie = opened.headers["set-cookie"].lower()
    for flag in ("httponly", "samesite=strict", "path=/admin", "max-age=1800"):
        assert flag in set_cookie
    assert admin_key not in opened.headers["set-cookie"]
    assert (await ops_client.get("/admin")).status_code == 200  # the cookie alone suffices
    value = ops_client.cookies[COOKIE]
    forged = value[:-1] + ("0" if value[-1] != "0" else "1")
    ops_client.cookies.set(COOKIE, forged, path="/admin")
    assert (await ops_client.get("/admin")).status_code == 401


def test_session_cookie_expires_and_rejects_tampering(ops_settings: Settings) -> None:
    import uuid

    key_id = uuid.uuid4()
    value = session.issue(ops_settings, key_id, now=1_000_000.0)
    assert session.verify(ops_settings, value, now=1_000_000.0 + 60) == key_id
    assert (
        session.verify(ops_settings, value, now=1_000_000.0 + session.LIFETIME_SECONDS + 1) is None
    )
    ident, expiry, mac = value.split(".")
    assert session.verify(ops_settings, f"{ident}.{int(expiry) + 3600}.{mac}", now=0) is None
    assert session.verify(ops_settings, "garbage", now=0) is None


@pytest.mark.parametrize(
    ("actual", "expected", "stable"),
    [([10] * 10, [0.1] * 10, True), ([0, 0, 0, 0, 0, 0, 0, 0, 50, 50], [0.1] * 10, False)],
)
def test_psi_flags_a_shifted_distribution(
    actual: list[int], expected: list[float], stable: bool
) -> None:
    value = service.psi(actual, expected)
    assert value is not None
    assert (value < 0.1) is stable


def test_reference_from_bundle_quantiles() -> None:
    name, shares = service.reference_shares({"valid_score_quantiles": [0, 40, 50, 60, 100]})
    assert name == "validation slice"
    assert sum(shares) == pytest.approx(1.0)
    assert shares[4] == pytest.approx(0.25)
    assert shares[0] == pytest.approx(0.0625)
    fallback, uniform = service.reference_shares({})
    assert "uniform" in fallback
    assert uniform == [0.1] * 10


def test_training_stores_the_served_score_reference() -> None:
    """Training records the ML-score quantiles of its validation rows (the drift reference):
    perfect predictions spread uniformly, a constant prediction sits at one score."""
    import numpy as np

    from virtuna.training.train import score_quantiles

    y = np.linspace(0.0, 10.0, 1001)
    uniform = score_quantiles(y, y)
    assert uniform == pytest.approx([5.0 * i for i in range(21)], abs=0.2)
    flat = score_quantiles(np.full(50, 5.0), y)
    assert set(flat) == {50.0}
    name, shares = service.reference_shares({"valid_score_quantiles": uniform})
    assert name == "validation slice"
    assert shares == pytest.approx([0.1] * 10, abs=0.01)
