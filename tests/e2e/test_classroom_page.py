"""The classroom screen in a real browser: Debian's Chromium, headless, driven by its ChromeDriver.

A teacher mints a token for a cohort's board; the page opened with it shows the ranking with badges, and
when a learner shares a resource (through the challenges API, the outbox, RQ and the leaderboards worker)
the page shows the new points without a reload. The screenshot the README shows is taken here when
CONNECTIVE_SCREENSHOT names a file.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Stack, eventually, share_resource
from tests.factories import bearer, unique

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is a dev dependency")


@pytest.fixture
def browser() -> Iterator[Any]:
    """Return a headless Chromium, stopped afterwards."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("Chromium and ChromeDriver are not installed (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


# Read in one script: the page replaces its rows whenever the board changes, so element handles go stale.
READ_ROWS = """
return Array.from(document.querySelectorAll('#rows li')).map(function (li) {
  return [li.dataset.user, Number(li.dataset.points), li.querySelector('.badges').textContent];
});
"""


def rows(driver: Any) -> list[tuple[str, int]]:
    """Return the ranking the page shows: (learner, points) per row."""
    return [(user, points) for user, points, _ in driver.execute_script(READ_ROWS)]


def badges(driver: Any) -> dict[str, str]:
    """Return each listed learner's badges as the page writes them."""
    return {user: text for user, _, text in driver.execute_script(READ_ROWS)}


def test_the_classroom_screen_renders_the_board_and_updates_when_points_arrive(stack: Stack, browser: Any) -> None:
    ana, ben = unique("ana"), unique("ben")
    # share_resource shares as a learner of cohort c1; this module's stack is its own, so the board is theirs.
    assert share_resource(stack, ana).status_code == 201
    minted = requests.post(
        stack.url("leaderboards", "/leaderboards/cohort:c1/view-tokens"),
        json={"hours": 1},
        headers=bearer(unique("teacher"), "teacher", cohorts=("c1",)),
        timeout=10,
    )
    assert minted.status_code == 201, minted.text
    browser.get(stack.url("leaderboards", minted.json()["view_path"]))
    eventually(lambda: ana in dict(rows(browser)), timeout=30)
    assert browser.find_element("id", "status").text == "live"
    assert "First share" in badges(browser)[ana]
    before = dict(rows(browser))

    # Points arrive: the page follows without a reload.
    assert share_resource(stack, ben).status_code == 201
    assert share_resource(stack, ana).status_code == 201
    eventually(
        lambda: dict(rows(browser)).get(ben) == 5 and dict(rows(browser)).get(ana) == before[ana] + 5, timeout=30
    )
    assert browser.execute_script("return performance.getEntriesByType('navigation').length") == 1
    target = os.environ.get("CONNECTIVE_SCREENSHOT")
    if target:
        Path(target).write_bytes(browser.get_screenshot_as_png())
