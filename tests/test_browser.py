"""The operator's pages in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, which .ci/run installs) against a live server on the test database, with the
real workers and Flower. It logs into the admin as staff, opens a confirmed and a cancelled
order and finds their saga drawn and listed, finds the API's operations in Swagger UI (drawn by
scripts served from the service itself), opens Flower, and keeps a screenshot of each page
under ``screenshots/`` (git ignores it; docs/images/ holds the ones the README shows)."""

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model

from tests.flows import PASSWORD, customer, deposit, order
from tests.support import FLOWER_AUTH, ROOT, eventually

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")
SHOTS = ROOT / "screenshots"

if not (CHROMIUM and DRIVER):
    reason = "no chromium and chromium-driver (apt-get install chromium chromium-driver)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the browser test: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

from selenium import webdriver  # noqa: E402 - only where the browser is
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--hide-scrollbars",
    ):
        options.add_argument(argument)
    # The driver is given: Selenium's manager never looks for, or downloads, another.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _shoot(driver, name: str) -> Path:
    """The whole page, up to 2400 pixels high."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(height, 900), 2400))
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 900)
    return path


def _wait(driver, css: str, timeout: float = 30):
    return WebDriverWait(driver, timeout).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def test_the_operators_pages_in_a_browser(browser, live_server, flower, api):
    alice = customer(api)
    deposit(alice.client, "100.00")
    confirmed = order(alice.client, "25.00", description="a book")
    cancelled = order(alice.client, "40.00", description="a lamp")
    assert alice.client.post(f"/order/{cancelled['id']}/cancel/").status_code == 200
    get_user_model().objects.create_superuser("staff", "staff@example.com", PASSWORD)

    browser.get(live_server.url + "/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("staff")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    _wait(browser, "#site-name")
    assert "/admin/login/" not in browser.current_url

    for name, placed, where in (
        ("admin-order-confirmed", confirmed, "Complete:"),
        ("admin-order-cancelled", cancelled, "Compensated:"),
    ):

        def shown(placed=placed, where=where) -> bool:
            browser.get(f"{live_server.url}/admin/orders/order/{placed['id']}/change/")
            return where in _wait(browser, ".saga-where").text

        eventually(shown, timeout=30, interval=1, what=f"{name}: {where}")
        diagram = browser.find_element(By.CSS_SELECTOR, "svg.saga-sequence")
        assert diagram.size["width"] > 600 and diagram.size["height"] > 200  # drawn, not empty
        drawn = [
            g.get_attribute("data-event")
            for g in diagram.find_elements(By.CSS_SELECTOR, "g.message")
        ]
        assert drawn[0] == "OrderRequested" and "OrderConfirmed" in drawn
        timeline = browser.find_elements(By.CSS_SELECTOR, "table.saga-timeline tbody tr")
        assert len(timeline) == len(drawn)
        if placed is cancelled:
            assert drawn[-3:] == ["RefundCompleted", "OrderCancelled", "OrderCancelled"]
        _shoot(browser, name)

    browser.get(live_server.url + "/api/docs/")
    _wait(browser, ".opblock")  # Swagger UI drew the operations from the schema
    operations = browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    paths = {op.get_attribute("data-path") or op.text for op in operations}
    assert {"/order/", "/register/"} <= {p.strip().replace("\u200b", "") for p in paths}
    _shoot(browser, "api-docs")

    user, password = FLOWER_AUTH
    browser.get(f"http://{user}:{password}@{urlsplit(flower).netloc}/broker")
    _wait(browser, "table")
    assert "orders" in browser.find_element(By.TAG_NAME, "body").text
    _shoot(browser, "flower-broker")
