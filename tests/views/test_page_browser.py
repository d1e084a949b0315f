"""The graph page in a real headless browser: Debian's chromium driven by Selenium.

The page is written by the real CLI for testdata/monorepo with one change, opened
from disk, and used as a reviewer would: search, click, follow the why chain, ask
for a path. Assertions read what the DOM shows. Under CI (``CI=true``) a missing
browser fails the tests instead of skipping them: .ci/install-chromium.sh installs it.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from gitrepo import GitRepo

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
FIXTURE = Path(__file__).resolve().parents[2] / "testdata" / "monorepo"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "graph-page.png"

if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("CI"):
        pytest.fail("chromium and chromedriver are required in CI (.ci/install-chromium.sh)")
    pytest.skip("chromium is not installed (.ci/install-chromium.sh)", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402


def write_page(repo: GitRepo, out: Path, *args: str) -> Path:
    from graphkit.cli import main

    old = Path.cwd()
    os.chdir(repo.root)
    try:
        result = CliRunner().invoke(
            main, ["graph", "--format", "html", *args, "-o", str(out)], catch_exceptions=False
        )
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """testdata/monorepo with libs/util changed, and its page (colours from --base HEAD)."""
    root = tmp_path_factory.mktemp("page")
    repo = GitRepo.from_folder(FIXTURE, root / "monorepo")
    repo.append("libs/util/src/util/strings.py", "\n# x\n")
    return write_page(repo, root / "graph.html", "--base", "HEAD")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tmp_path_factory.mktemp("chromium-profile")
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager never tries to download one.
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_ready(driver: WebDriver, timeout: float = 10.0) -> None:
    """Until the page has laid out what it shows (it sets body[data-ready])."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if driver.execute_script("return document.body.dataset.ready") == "true":
            return
        time.sleep(0.05)
    raise AssertionError("the page never finished its layout")


def shown(driver: WebDriver) -> list[str]:
    return [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#shown li")]


def open_page(driver: WebDriver, path: Path) -> None:
    driver.get(path.as_uri())
    wait_ready(driver)


def test_page_opens_offline_and_shows_the_graph(browser: WebDriver, page: Path) -> None:
    open_page(browser, page)
    assert browser.find_element(By.ID, "status").text == "Showing 25 of 25 targets"
    assert len(shown(browser)) == 25
    affected = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#shown li.affected")]
    assert "//libs/util:util" in affected and "//tools/lint:lint" not in affected
    # No request of any kind: nothing fetched, and the console holds no error.
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_search_and_click_focus_a_target(browser: WebDriver, page: Path) -> None:
    open_page(browser, page)
    browser.find_element(By.ID, "search").send_keys("libs/core")
    results = browser.find_elements(By.CSS_SELECTOR, "#results button")
    assert [b.get_attribute("data-id") for b in results] == ["//libs/core:core", "//libs/core:test"]
    results[0].click()
    wait_ready(browser)
    # One level out: its deps and its dependents, nothing else.
    assert shown(browser) == [
        "//libs/api:api",
        "//libs/core:core",
        "//libs/core:test",
        "//libs/util:util",
        "//services/worker:test",
        "//services/worker:worker",
    ]
    panel = browser.find_element(By.ID, "panel").text
    assert "//libs/core:core" in panel
    assert "python_library" in panel
    assert "//libs/util:util (normal)" in panel
    assert "depends on //libs/util:util" in panel
    assert "graphkit why //libs/core:core --base " in panel
    # Two levels reach further.
    depth = browser.find_element(By.ID, "depth")
    depth.clear()
    depth.send_keys("2")
    browser.execute_script("document.getElementById('depth').dispatchEvent(new Event('change'))")
    wait_ready(browser)
    assert "//services/web:web" in shown(browser)


def test_why_path_follows_the_recorded_chain(browser: WebDriver, page: Path) -> None:
    open_page(browser, page)
    browser.execute_script("window.graphkitPage.focus('//services/gateway:test')")
    wait_ready(browser)
    browser.find_element(By.ID, "show-why").click()
    wait_ready(browser)
    chain = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#why-chain li")]
    cause = "(interface: libs/util/src/util/strings.py modified)"
    assert chain == [
        f"//services/gateway:test: depends on //services/gateway:gateway {cause}",
        f"//services/gateway:gateway: depends on //services/web:web {cause}",
        f"//services/web:web: depends on //libs/api:api {cause}",
        f"//libs/api:api: depends on //libs/core:core {cause}",
        f"//libs/core:core: depends on //libs/util:util {cause}",
        "//libs/util:util: libs/util/src/util/strings.py modified",
    ]
    assert len(shown(browser)) == 6


def test_path_between_two_targets(browser: WebDriver, page: Path) -> None:
    open_page(browser, page)
    browser.find_element(By.ID, "path-from").send_keys("//services/web:test")
    browser.find_element(By.ID, "path-to").send_keys("//libs/util")
    browser.find_element(By.ID, "path-go").click()
    wait_ready(browser)
    steps = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#path-result li")]
    assert steps == [
        "//services/web:test",
        "//services/web:web",
        "//libs/api:api",
        "//libs/core:core",
        "//libs/util:util",
    ]
    browser.find_element(By.ID, "path-to").clear()
    browser.find_element(By.ID, "path-to").send_keys("//no/such")
    browser.find_element(By.ID, "path-go").click()
    assert "Not a target: //no/such" in browser.find_element(By.ID, "path-result").text


def test_group_by_folder_draws_folders_as_boxes(browser: WebDriver, page: Path) -> None:
    open_page(browser, page)
    browser.find_element(By.ID, "group").click()
    wait_ready(browser)
    parents = browser.execute_script(
        "return window.graphkitPage.cy.nodes(':parent').map(n => n.id()).sort()"
    )
    assert parents == [
        f"group:{g}" for g in sorted(["go", "js", "libs", "py", "rust", "services", "tools"])
    ]


def test_large_graph_opens_on_an_overview_by_folder(
    browser: WebDriver, make_repo: Callable[..., GitRepo], tmp_path: Path
) -> None:
    def folder(i: int) -> str:
        return f"{'apps' if i % 4 == 0 else 'libs'}/p{i:03d}"

    files: dict[str, str] = {}
    for i in range(320):
        files[f"{folder(i)}/BUILD.toml"] = (
            f'[[target]]\nname = "p{i:03d}"\nrule = "python_library"\nsrcs = ["*.py"]\n'
            + (f'deps = ["//{folder(i - 1)}"]\n' if i % 4 != 1 and i > 0 else "")
        )
        files[f"{folder(i)}/m.py"] = ""
    repo = make_repo(files)
    open_page(browser, write_page(repo, tmp_path / "big.html"))
    assert shown(browser) == ["apps/", "libs/"]
    assert "320 targets in 2 folders" in browser.find_element(By.ID, "status").text
    # Finding one target draws its neighbourhood, never the hairball.
    browser.find_element(By.ID, "search").send_keys("//libs/p002")
    browser.find_element(By.CSS_SELECTOR, "#results button").click()
    wait_ready(browser)
    assert shown(browser) == ["//libs/p001:p001", "//libs/p002:p002", "//libs/p003:p003"]


def test_screenshot_is_not_blank(browser: WebDriver, page: Path, tmp_path: Path) -> None:
    from PIL import Image

    open_page(browser, page)
    shot = tmp_path / "graph-page.png"
    assert browser.save_screenshot(str(shot))
    with Image.open(shot) as image:
        colours: Any = image.convert("RGB").getcolors(maxcolors=1 << 20)
        width, height = image.size
    assert (width, height) == (1400, 900) or width >= 1000
    # A blank or unstyled page has a handful of colours; nodes, edges and text have many.
    assert colours is not None and len(colours) > 200
    affected_fill = (0xE5, 0x53, 0x4B)
    assert any(rgb == affected_fill for _, rgb in colours)
    if os.environ.get("GRAPHKIT_UPDATE_SCREENSHOT"):
        shutil.copyfile(shot, SCREENSHOT)
