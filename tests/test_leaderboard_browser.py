"""The leaderboard page in a real headless browser (Chromium and chromedriver from Debian's
packages, which .ci/run installs), at a laptop's 1400 x 900: it loads from disk with no console
error and no network, needs no horizontal scrolling, every figure has something drawn, a first
click on a column puts its best rows first, and hypervolume_share and the inference cost are
there. Checked on a page of test runs and on the committed page (reports/leaderboard.html, every
built-in method); screenshots are kept in ``test-artifacts/`` (or ``$MOBENCH_TEST_ARTIFACTS``).

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


COMMITTED_PAGE = Path(__file__).resolve().parents[1] / "reports" / "leaderboard.html"
WIDTH, HEIGHT = 1400, 900


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                 f"--window-size={WIDTH},{HEIGHT}", "--disable-dev-shm-usage"):
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


def header(driver, table_id: str, name: str):  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f"#{table_id} th[data-column='{name}']")


# Per image: its size, and how many of a 64 x 64 sample's pixels differ from the first one.
DRAWN = """
return Array.from(document.images).map(function (image) {
  var canvas = document.createElement("canvas");
  canvas.width = 64; canvas.height = 64;
  var context = canvas.getContext("2d");
  context.drawImage(image, 0, 0, 64, 64);
  var data = context.getImageData(0, 0, 64, 64).data, differing = 0;
  for (var i = 4; i < data.length; i += 4) {
    if (data[i] !== data[0] || data[i + 1] !== data[1] || data[i + 2] !== data[2]) differing++;
  }
  return [image.naturalWidth, image.naturalHeight, differing];
});
"""


def check_page(driver, path: Path, screenshot: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The checks every page passes; returns its tasks."""
    driver.get(path.as_uri())
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    assert "mobench leaderboards" in driver.title
    assert driver.execute_script("return window.innerWidth") == WIDTH
    width = driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= driver.execute_script("return window.innerWidth"), (
        f"{path.name} needs horizontal scrolling: {width} px wide in a {WIDTH} px window")
    images = driver.execute_script(DRAWN)
    assert images and all(w > 0 and h > 0 and differing > 100 for w, h, differing in images), images
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
    tasks = driver.execute_script(
        "return Array.from(document.querySelectorAll('table.quality'))"
        ".map(t => t.id.replace('table-', ''))")
    for task in tasks:
        quality = [h.get_attribute("data-column") for h in driver.find_elements(
            "css selector", f"#table-{task} th[data-column]")]
        assert "hypervolume_share" in quality
        cost = [h.get_attribute("data-column") for h in driver.find_elements(
            "css selector", f"#cost-{task} th[data-column]")]
        assert {"inference_seconds", "inference_tokens_generated", "inference_token_passes",
                "inference_reward_calls", "total_seconds"} <= set(cost)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(ARTIFACTS / screenshot))
    return tasks


def test_the_page_fits_a_laptop_sorts_best_first_and_shows_its_figures(page, browser):
    assert check_page(browser, page, "leaderboard-1400x900.png") == ["toy"]
    methods = column(browser, "table-toy", 1)
    assert sorted(methods) == ["base", "toy-steer"]
    header(browser, "table-toy", "method").click()
    assert column(browser, "table-toy", 1) == ["base", "toy-steer"]
    header(browser, "table-toy", "method").click()
    assert column(browser, "table-toy", 1) == ["toy-steer", "base"]
    # higher is better: the first click shows the best first; the second reverses
    hypervolume = header(browser, "table-toy", "hypervolume")
    hypervolume.click()
    index = int(hypervolume.get_attribute("data-index"))
    values = [float(v) for v in column(browser, "table-toy", index)]
    assert values == sorted(values, reverse=True)
    hypervolume.click()
    assert [float(v) for v in column(browser, "table-toy", index)] == sorted(values)
    # lower is better (spacing, a cost): ascending first
    for table, name in (("table-toy", "spacing"), ("cost-toy", "total_seconds")):
        cell = header(browser, table, name)
        cell.click()
        values = [float(v) for v in column(browser, table, int(cell.get_attribute("data-index")))
                  if v != ""]
        assert values == sorted(values)


def test_the_committed_page_fits_a_laptop_with_every_built_in_method(browser):
    tasks = check_page(browser, COMMITTED_PAGE, "committed-leaderboard-1400x900.png")
    assert {"hh", "hhc"} <= set(tasks)
    assert len(column(browser, "table-hh", 1)) >= 9
    share = header(browser, "table-hh", "hypervolume_share")
    share.click()
    values = [float(v) for v in column(browser, "table-hh", int(share.get_attribute("data-index")))]
    assert values == sorted(values, reverse=True)
