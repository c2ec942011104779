"""Headless Chromium for the browser tests: one way to start it and to save a whole page.

The scripts beside this file import it (`from browser import chrome, save_page`); the Rust tests
run them through `helpers::Browser`. Chromedriver is taken from $KALENDS_TEST_CHROMEDRIVER
(default /usr/bin/chromedriver), which `scripts/test` sets.
"""

import os
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait


# axe-core on the whole page (`execute_async_script`): its serious and critical violations, with
# up to five nodes each; an axe-core that fails is one critical finding.
AXE_RUN = """
var done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']}).then(function (r) {
  done(r.violations.filter(function (v) { return v.impact === 'serious' || v.impact === 'critical'; })
    .map(function (v) { return {id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map(function (n) { return n.target.join(' ') + ': ' + n.failureSummary; })}; }));
}, function (e) { done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]); });
"""

# How many times a browser is started before its test fails.
STARTS = 3


def chrome(size=(1100, 900), js=True, flags=()):
    """A headless Chromium at `size`, in US English, with JavaScript on or (`js=False`) blocked."""
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 f"--window-size={size[0]},{size[1]}", "--lang=en-US", *flags):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {
        "intl.accept_languages": "en-US",
        # 2: blocked, as a browser with JavaScript turned off.
        "profile.managed_default_content_settings.javascript": 1 if js else 2,
    })
    driver = None
    for attempt in range(1, STARTS + 1):
        # Selenium picks chromedriver's port by closing a probe socket: on a busy test machine
        # another server may take that port first, and chromedriver then cannot start. A new
        # port is picked on each try; a browser that never starts still fails the test.
        service = Service(os.environ.get("KALENDS_TEST_CHROMEDRIVER", "/usr/bin/chromedriver"))
        try:
            driver = webdriver.Chrome(service=service, options=options)
            break
        except WebDriverException as e:
            print(f"browser.py: Chromium did not start (try {attempt} of {STARTS}): {e.msg}",
                  file=sys.stderr)
            if attempt == STARTS:
                raise
            time.sleep(1)
    driver.set_window_size(*size)
    return driver


def save_page(driver, path, width):
    """Saves the whole page (not only the window) at `width` pixels to `path`."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, max(900, height + 40))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    driver.save_screenshot(path)


def replaced(error):
    """Whether `error` says the element found is no longer in the page: a live update swapped
    it (stale), or a navigation swapped the whole document between finding the node and using
    it (Chromium's "Node ... does not belong to the document")."""
    return isinstance(error, StaleElementReferenceException) or (
        "does not belong to the document" in (error.msg or ""))


def waiting(driver, seconds=20):
    """A wait that looks again through the moment a navigation swaps the document: Chromium may
    then answer "Node ... does not belong to the document" for a node just found. A condition
    that never holds still ends in a TimeoutException."""
    return WebDriverWait(driver, seconds, ignored_exceptions=(WebDriverException,))
