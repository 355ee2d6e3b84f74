"""The pipeline fixtures (one isolated lane per test, a model server per session), and a
headless Chromium driven by Selenium (Debian's chromium and chromium-driver)."""

import shutil
from collections.abc import Iterator

import pytest

from tests.integration.pipeline.conftest import lane, model_server

__all__ = ["lane", "model_server"]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def browser() -> Iterator[object]:
    """A headless Chromium that records the page's console messages."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail("install chromium and chromium-driver (`make test` does it with apt)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,1400")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
