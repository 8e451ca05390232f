"""OUT-02: the dashboard in headless Chromium (Debian's chromium + chromium-driver).

The app runs under uvicorn on 127.0.0.1 with seeded data; the browser logs in through the
form (the session cookie path a human uses), then every chart must be laid out with a
non-zero size and the screenshot must show chart ink (coloured pixels) inside each chart's
box. A missing browser is a failure, not a skip (.ci/run installs it).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from tests.service.ops.conftest import make_user
from tests.service.ops.dashboard_seed import seed_dashboard
from tests.service.ops.png import colored_pixels, read_png
from tests.service.test_migrations import _free_port
from virtuna.config import Settings
from virtuna.kit import migrate

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHARTS = ("confidence", "cost", "jobs", "reliability", "drift-ml", "drift-overall")


def _require_browser() -> None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)) and not shutil.which(path):
            pytest.fail(f"{path} missing: apt-get install -y chromium chromium-driver")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A seeded SQLite database served by uvicorn; yields (base URL, admin key)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'dash.db'}"
    migrate.upgrade(url)
    settings = Settings.model_validate(
        {"VIRTUNA_DATABASE_URL": url, "VIRTUNA_DATA_DIR": tmp_path, "_env_file": None}
    )
    admin_id, admin_key = asyncio.run(make_user(settings, admin=True))
    asyncio.run(seed_dashboard(settings, admin_id))
    port = _free_port()
    env = {**os.environ, "VIRTUNA_DATABASE_URL": url, "VIRTUNA_DATA_DIR": str(tmp_path),
           "VIRTUNA_ENV": "test", "LOG_FORMAT": "json"}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "virtuna", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            pytest.fail("the server did not become ready")
        yield base, admin_key
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    _require_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1300,1800", "--force-device-scale-factor=1"):  # fmt: skip
        options.add_argument(arg)
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def test_dashboard_charts_render_in_chromium(
    served: tuple[str, str], browser: webdriver.Chrome, tmp_path: Path
) -> None:
    base, admin_key = served
    browser.get(f"{base}/admin/login")
    browser.find_element(By.ID, "api_key").send_keys(admin_key)
    browser.find_element(By.ID, "login").click()
    # The click submits a form: wait for the redirect instead of reading the URL at once.
    WebDriverWait(browser, 30).until(expected_conditions.url_to_be(f"{base}/admin"))
    assert browser.title == "Virtuna admin"
    found = {
        el.get_attribute("data-chart"): el
        for el in browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    }
    assert set(found) == set(CHARTS)
    page = read_png(browser.get_screenshot_as_png())
    (tmp_path / "dashboard.png").write_bytes(browser.get_screenshot_as_png())
    for name in CHARTS:
        chart = found[name]
        rect = chart.rect
        assert rect["width"] > 100, (name, rect)
        assert rect["height"] > 100, (name, rect)
        marks = chart.find_elements(By.CSS_SELECTOR, "rect.bar, circle.point")
        assert marks, name
        assert any(m.rect["width"] > 0 and m.rect["height"] > 0 for m in marks), name
        box = (int(rect["x"]), int(rect["y"]),
               int(rect["x"] + rect["width"]), int(rect["y"] + rect["height"]))  # fmt: skip
        assert box[3] <= len(page), f"{name} below the screenshot; enlarge the window"
        assert colored_pixels(page, box) > 200, f"{name}: no chart ink in its screenshot box"
    # Outside the charts (the page header band) there is no chart ink: the check discriminates.
    first = min(int(el.rect["y"]) for el in found.values())
    assert colored_pixels(page, (0, 0, len(page[0]), max(first - 10, 1))) == 0
