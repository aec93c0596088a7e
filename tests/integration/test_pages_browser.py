"""The web pages in headless Chromium (Debian's chromium and chromedriver, driven by Selenium):
each loads with no console error, the catalog filter works, the dashboard shows the API's
balance. Screenshots go to artifacts/."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.helpers import auth, data, grant, register
from tests.integration.conftest import wait_for
from tests.integration.live import live_server  # noqa: F401  (fixture)
from tests.needs import require_binary, require_module

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--window-size=1280,1000")


@pytest.fixture(scope="module")
def browser():
    require_binary("chromium")
    require_binary("chromedriver")
    require_module("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def _errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE"]


def _open(driver, url: str, ready_id: str):
    from selenium.webdriver.common.by import By

    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(url)
    wait_for(lambda: driver.find_elements(By.ID, ready_id), timeout=20)


def _text(driver, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id).text


@pytest.mark.parametrize("path,ready,name", [
    ("/", "landing-title", "landing"), ("/docs", "post_run", "docs"),
    ("/catalog", "services", "catalog"), ("/account/dashboard", "key-form", "dashboard-empty"),
])
def test_page_loads_without_console_errors(client, live_server, browser, path, ready, name):
    _open(browser, live_server + path, ready)
    browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    assert _errors(browser) == []


def test_catalog_filter_by_family_and_price(client, live_server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _open(browser, live_server + "/catalog", "services")
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.service")
    catalog = data(client.get("/catalog"))["services"]
    assert len(rows) == len(catalog)

    def visible():
        return {row.get_attribute("data-key") for row in rows if row.is_displayed()}

    Select(browser.find_element(By.ID, "family-filter")).select_by_value("image")
    assert visible() == {s["key"] for s in catalog if s["family"] == "image"}
    browser.find_element(By.ID, "price-filter").send_keys("0.02")
    expected = {s["key"] for s in catalog if s["family"] == "image"
                and s["default_cost_usd"] <= Decimal("0.02")}
    assert visible() == expected and expected
    assert _text(browser, "shown-count") == str(len(expected))
    browser.save_screenshot(str(ARTIFACTS / "catalog-filtered.png"))
    assert _errors(browser) == []


def test_dashboard_shows_the_api_balance_and_jobs(app, client, live_server, browser, worker):
    from selenium.webdriver.common.by import By

    require_module("tokenizers")
    key = register(client, "dash@example.com")
    grant(app, "dash@example.com", "12.345678")
    job_id = client.post("/run", json={"service": "embedding-l4", "input": {"text": "hi"}},
                         headers=auth(key)).get_json()["job_id"]
    job = wait_for(lambda: (lambda b: b if b["settled"] else None)(
        data(client.get(f"/status/{job_id}"))))
    balance = data(client.get("/account/balance", headers=auth(key)))
    _open(browser, live_server + "/account/dashboard", "key-form")
    browser.find_element(By.ID, "api-key").send_keys(key)
    browser.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()
    # Hidden elements read as "": wait for the account section to show a dollar amount.
    wait_for(lambda: _text(browser, "balance").startswith("$"), timeout=20)
    assert _text(browser, "balance") == f"${balance['balance']}"
    assert balance["balance"] == Decimal("12.345678") - job["cost_usd"]
    assert _text(browser, "daily-limit") == f"${balance['daily_limit']}"
    row = browser.find_element(By.CSS_SELECTOR, "#jobs tr.job").text
    assert job_id[:8] in row and f"${job['cost_usd']}" in row and "completed" in row
    assert key not in browser.current_url
    browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))
    assert _errors(browser) == []


def test_status_page_shows_live_health(client, live_server, browser):
    _open(browser, live_server + "/status", "queues")
    wait_for(lambda: _text(browser, "overall") not in ("", "checking…"), timeout=20)
    health = client.get("/health").get_json()
    assert _text(browser, "overall") == health["status"]
    assert _text(browser, "database").startswith("up")
    browser.save_screenshot(str(ARTIFACTS / "status.png"))
    assert _errors(browser) == []
