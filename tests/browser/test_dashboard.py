"""The dashboard in headless Chromium: it shows a status change made through the API within
2 s, and the console stays clean. The screenshot goes to the test's tmp dir and docs/."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orderline.domain.access import Role

from ..helpers.counting import server_settled
from ..helpers.http import create, projected
from ..helpers.server import RunningServer
from ..helpers.tools import require

DOCS_SCREENSHOT = Path(__file__).parents[2] / "docs" / "dashboard.png"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1200",
)


@pytest.fixture
def browser() -> Iterator[Any]:
    tools = require("chromium", "chromedriver", package="chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = tools["chromium"]
    for flag in FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="orderline-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(tools["chromedriver"]))
        try:
            yield driver
        finally:
            driver.quit()


def wait_for(condition: Any, seconds: float, what: str) -> float:
    """Poll `condition` until true; return how long it took."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"{what} not within {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - started


async def test_the_dashboard_shows_a_change_within_two_seconds(
    server: RunningServer, client: httpx.AsyncClient, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    restaurant = "dash-rest"
    placed = [await create(client, restaurantId=restaurant) for _ in range(6)]
    lifecycle = ("CONFIRMED", "PROCESSING", "SHIPPED", "DELIVERED")
    for order, steps in zip(placed[1:], (1, 2, 3, 4, 0), strict=True):
        for status in lifecycle[:steps] if steps else ("CANCELLED",):
            moved = await client.post(f"/api/orders/{order['id']}/status", json={"status": status})
            assert moved.status_code == 200, moved.text
    await projected(client)
    await server_settled(server.settings)  # the page reads the counters once, at load
    token = server.token(Role.STAFF, "ops", scopes=("orders:admin", "analytics:read"))
    browser.get(f"{server.base_url}/dashboard?restaurant={restaurant}#token={token}")
    state = lambda: browser.execute_script(  # noqa: E731 - one call: the page re-renders
        "return document.getElementById('state')?.textContent"
    )
    wait_for(lambda: state() == "live", 10, "the live stream")
    wait_for(lambda: _ticket_column(browser, placed[0]["id"]) == "PENDING", 5, "the board")

    changed = await client.post(
        f"/api/orders/{placed[0]['id']}/status", json={"status": "CONFIRMED"}
    )
    assert changed.status_code == 200
    took = wait_for(
        lambda: _ticket_column(browser, placed[0]["id"]) == "CONFIRMED",
        2,
        "the change on the board",
    )
    feed = browser.find_element(By.ID, "feed").text
    assert placed[0]["id"][:8] in feed and "PENDING →" in feed, feed
    confirmed = browser.find_element(By.CSS_SELECTOR, '.count[data-status="CONFIRMED"] .value')
    assert int(confirmed.text) >= 2
    assert "entries" not in browser.find_element(By.ID, "chart").text  # drawn, not an error
    assert browser.find_elements(By.CSS_SELECTOR, "#chart svg rect"), "the chart has bars"

    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], errors
    shot = tmp_path / "dashboard.png"
    browser.save_screenshot(str(shot))
    if os.environ.get("ORDERLINE_UPDATE_SCREENSHOT") == "1":  # refresh the one in docs/
        shutil.copyfile(shot, DOCS_SCREENSHOT)
    print(f"the board showed the change {took * 1000:.0f} ms after the API answered")


def _ticket_column(browser: Any, order_id: str) -> str | None:
    """The status column holding the order's ticket, read in one script call (the board
    re-renders as events arrive: elements found in one call may be gone by the next)."""
    found = browser.execute_script(
        "const t = document.querySelector(`.column .ticket[data-order='${arguments[0]}']`);"
        "return t ? t.closest('[data-status]').dataset.status : null;",
        order_id,
    )
    return None if found is None else str(found)


def test_the_docs_page_renders_under_its_policy(server: RunningServer, browser: Any) -> None:
    """Issue 21, 13: swagger-ui from this server's own files, under a CSP that allows nothing
    else; the page still renders and the console shows no violation."""
    browser.get(f"{server.base_url}/docs")
    title = lambda: browser.execute_script(  # noqa: E731
        "return document.querySelector('.swagger-ui .info .title')?.textContent"
    )
    wait_for(lambda: (title() or "").startswith("Orderline"), 10, "the docs page")
    operations = browser.execute_script("return document.querySelectorAll('.opblock').length")
    assert operations > 20
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], errors


async def test_the_dashboard_asks_for_a_fresh_token_when_its_stream_ends_at_exp(
    server: RunningServer, client: httpx.AsyncClient, browser: Any
) -> None:
    """Issue 21, finding 1: at the token's `exp` the stream ends with `reauthenticate`; the
    page asks for a fresh token and resumes from the last event id (nothing missed)."""
    from selenium.webdriver.common.by import By

    restaurant = "dash-expiry"
    placed = await create(client, restaurantId=restaurant)
    short = server.token(Role.STAFF, "ops", scopes=("orders:admin",), ttl_seconds=4)
    browser.get(f"{server.base_url}/dashboard?restaurant={restaurant}#token={short}")
    script = (
        "const of = (id) => document.getElementById(id);"
        "return [of('state')?.textContent, of('login').hidden, of('login-error').textContent];"
    )
    wait_for(lambda: browser.execute_script(script)[0] == "live", 10, "the live stream")
    wait_for(lambda: browser.execute_script(script)[1] is False, 10, "the token prompt")
    state, _, told = browser.execute_script(script)
    assert state == "token expired" and "fresh" in told, (state, told)

    moved = await client.post(f"/api/orders/{placed['id']}/status", json={"status": "CONFIRMED"})
    assert moved.status_code == 200  # while the page has no stream
    fresh = server.token(Role.STAFF, "ops", scopes=("orders:admin",))
    browser.find_element(By.ID, "token").send_keys(fresh)
    browser.find_element(By.CSS_SELECTOR, "#login-form button").click()
    wait_for(lambda: browser.execute_script(script)[0] == "live", 10, "the stream again")
    wait_for(lambda: _ticket_column(browser, placed["id"]) == "CONFIRMED", 5, "the missed change")
    feed = browser.find_element(By.ID, "feed").text
    assert placed["id"][:8] in feed and "PENDING →" in feed, feed  # replayed, not only reloaded
