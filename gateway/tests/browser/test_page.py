"""The page in headless Chromium, through a running gateway: register, create a poll with choices, vote, watch
the result arrive, see someone else's vote move the bars live (the results' stream), log out (which ends the
session on the server). Skipped unless GATEWAY_URL is set (`make run` serves one on http://127.0.0.1:8000)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

GATEWAY_URL = os.environ.get("GATEWAY_URL", "").rstrip("/")
ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR", Path(__file__).resolve().parents[3] / "artifacts")) / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
# Choices and votes wait for events between services; the page retries, the test waits longer than it does.
PATIENCE_SECONDS = 30

pytestmark = [
    pytest.mark.skipif(not GATEWAY_URL, reason="set GATEWAY_URL to a running gateway to drive the page in Chromium"),
    pytest.mark.skipif(not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)),
                       reason="needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)"),
]

webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (uv pip install selenium)")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support import expected_conditions as shows  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def browser(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1200,1000", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    yield driver
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{request.node.name}.png"))
    driver.quit()


def by_id(driver: WebDriver, element_id: str, condition=shows.visibility_of_element_located):
    return WebDriverWait(driver, PATIENCE_SECONDS).until(condition((By.ID, element_id)))


def text_of(driver: WebDriver, element_id: str, expected: str) -> None:
    WebDriverWait(driver, PATIENCE_SECONDS).until(shows.text_to_be_present_in_element((By.ID, element_id), expected))


def vote_as_someone_else(poll_id: str, choice_id: str) -> None:
    """Another person, through the API: registered, logged in, voting."""
    credentials = {"username": f"other-{uuid.uuid4().hex[:10]}", "password": "a-long-enough-password-42"}
    with httpx.Client(base_url=GATEWAY_URL, timeout=PATIENCE_SECONDS) as client:
        client.post("/api/auth/register/", json=credentials).raise_for_status()
        access = client.post("/api/auth/token/", json=credentials).raise_for_status().json()["access"]
        client.post("/api/votes/", json={"poll_id": poll_id, "choice_id": choice_id},
                    headers={"Authorization": f"Bearer {access}"}).raise_for_status()


def test_register_create_vote_and_see_the_result(browser: WebDriver) -> None:
    browser.get(f"{GATEWAY_URL}/")
    by_id(browser, "username").send_keys(f"browser-{uuid.uuid4().hex[:10]}")
    by_id(browser, "password").send_keys("a-long-enough-password-42")
    by_id(browser, "register-button").click()
    text_of(browser, "whoami", "Signed in as browser-")

    by_id(browser, "poll-question").send_keys("Which colour?")
    by_id(browser, "poll-choices").send_keys("Red\nBlue")
    by_id(browser, "create-poll-button").click()
    text_of(browser, "detail-question", "Which colour?")
    WebDriverWait(browser, PATIENCE_SECONDS).until(
        lambda driver: len(driver.find_elements(By.CSS_SELECTOR, "#choices-list .choice")) == 2
    )
    red = browser.find_elements(By.CSS_SELECTOR, "#choices-list .choice")[0]
    assert red.find_element(By.CSS_SELECTOR, ".text").text == "Red"

    red_id = red.get_attribute("data-choice-id")
    by_id(browser, f"vote-{red_id}", shows.element_to_be_clickable).click()
    text_of(browser, "message", "Your vote is counted.")
    text_of(browser, f"votes-{red_id}", "1 vote")
    text_of(browser, "detail-total", "1 vote")

    # Someone else's vote moves the bars without a reload: the page watches the results' stream, and reads them
    # no more while it does.
    by_id(browser, "detail-section")
    WebDriverWait(browser, PATIENCE_SECONDS).until(
        lambda driver: driver.find_element(By.ID, "detail-section").get_attribute("data-live") == "on"
    )
    blue_id = str(browser.find_elements(By.CSS_SELECTOR, "#choices-list .choice")[1].get_attribute("data-choice-id"))
    vote_as_someone_else(str(browser.find_element(By.ID, "detail-section").get_attribute("data-poll-id")), blue_id)
    text_of(browser, f"votes-{blue_id}", "1 vote")
    text_of(browser, "detail-total", "2 votes")
    bar = browser.find_element(By.CSS_SELECTOR, f"#choice-{blue_id} progress")
    assert (bar.get_attribute("value"), bar.get_attribute("max")) == ("1", "2")
    assert browser.find_element(By.ID, "detail-section").get_attribute("data-live") == "on"

    # A second vote in the same poll is refused, and the page says why.
    by_id(browser, f"vote-{red_id}", shows.element_to_be_clickable).click()
    WebDriverWait(browser, PATIENCE_SECONDS).until(
        lambda driver: driver.find_element(By.ID, "message").get_attribute("data-kind") == "error"
    )

    by_id(browser, "close-poll-button", shows.element_to_be_clickable).click()
    text_of(browser, "detail-status", "closed")
    by_id(browser, "back-button").click()
    text_of(browser, "polls-list", "Which colour?")

    # Log out ends the session on the server before the page forgets the tokens: its refresh token is refused.
    refresh = browser.execute_script("return sessionStorage.getItem('refresh')")
    by_id(browser, "logout-button", shows.element_to_be_clickable).click()
    WebDriverWait(browser, PATIENCE_SECONDS).until(
        lambda driver: driver.find_element(By.ID, "message").text == "You are logged out."
    )
    assert by_id(browser, "auth-section").is_displayed()
    assert browser.execute_script("return sessionStorage.length") == 0
    refused = httpx.post(f"{GATEWAY_URL}/api/auth/token/refresh/", json={"refresh": refresh}, timeout=10)
    assert refused.status_code == 401, refused.text
