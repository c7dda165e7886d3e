"""The leaderboard page in a real headless browser (Chromium and chromedriver from Debian's
packages, which .ci/run installs): it loads from disk with no console error and no network, a
table re-sorts when a header is clicked, and every image has a size. A screenshot is kept in
``test-artifacts/`` (or ``$MOBENCH_TEST_ARTIFACTS``).

Outside CI a machine without the browser skips this module (installing it needs root:
``apt-get install chromium chromium-driver``); in CI its absence is a failure.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mobench.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ARTIFACTS = Path(os.environ.get("MOBENCH_TEST_ARTIFACTS",
                                Path(__file__).resolve().parents[1] / "test-artifacts"))

if not (CHROMIUM and CHROMEDRIVER):
    if IN_CI:
        raise RuntimeError("CI needs chromium and chromedriver for the leaderboard page test "
                           "(.ci/run installs the Debian packages chromium chromium-driver)")
    pytest.skip("no chromium/chromedriver on this machine (apt-get install chromium "
                "chromium-driver)", allow_module_level=True)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        patch.setenv("CI", "true")
        for method in ("base", "toy-steer"):
            for seed in (0, 1):
                assert main(["run", "--method", method, "--task", "toy", "--seed", str(seed),
                             "--output", str(root / f"{method}-{seed}"),
                             "eval.n_bootstrap=10"]) == 0
        html = root / "leaderboard.html"
        assert main(["report", str(root), "--html", str(html), "--n-bootstrap", "20"]) == 0
    return html


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1300,1800",
                 "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def column(driver, table_id: str, index: int) -> list[str]:  # type: ignore[no-untyped-def]
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#' + arguments[0] + ' tbody tr'))"
        ".map(r => r.cells[arguments[1]].getAttribute('data-value'))", table_id, index)


def test_the_page_loads_sorts_and_shows_its_images(page, browser):
    from selenium.webdriver.common.by import By

    browser.get(page.as_uri())
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    assert "mobench leaderboards" in browser.title
    methods = column(browser, "table-toy", 1)
    assert sorted(methods) == ["base", "toy-steer"]
    header = browser.find_element(By.XPATH, "//table[@id='table-toy']//th[text()='method']")
    header.click()
    assert column(browser, "table-toy", 1) == ["base", "toy-steer"]
    header.click()
    assert column(browser, "table-toy", 1) == ["toy-steer", "base"]
    hypervolume = browser.find_element(By.XPATH,
                                       "//table[@id='table-toy']//th[text()='hypervolume']")
    hypervolume.click()
    values = [float(v) for v in column(browser, "table-toy", 4)]
    assert values == sorted(values)
    sizes = browser.execute_script(
        "return Array.from(document.images).map(i => [i.naturalWidth, i.naturalHeight])")
    assert len(sizes) >= 2 and all(w > 0 and h > 0 for w, h in sizes)
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "leaderboard.png"))
