"""Opens pages in headless Chromium and says what a reader saw on each.

    browser_pages.py CONFIG_JSON

CONFIG_JSON names: "base" (the server), "axe" (the path of axe-core's axe.min.js) and "pages"
(a list of {"path", "wait_for", "then"}: "wait_for" is a text the page shows once it is ready,
JavaScript's work done; "then", optional, is a script run afterwards, such as opening every
folded section, before axe-core looks again).

Prints one JSON object with one entry per path: "shown" (whether "wait_for" appeared), "text"
(the page's visible text), "console_errors" (what the browser's console reported at level
SEVERE: a script that failed, a Content-Security-Policy violation, a missing asset) and "axe"
(axe-core's serious and critical violations), and "axe_then" (the same after "then", or []).
Chromium is started by `browser.py`.
"""

import json
import sys
import time

from browser import AXE_RUN, chrome, waiting
from selenium.common.exceptions import TimeoutException


def visit(driver, base, axe, page):
    driver.get(base + page["path"])
    try:
        waiting(driver, 30).until(lambda d: page["wait_for"] in d.find_element("tag name", "body").text)
        shown = True
    except TimeoutException:
        shown = False
    # The browser asks for /favicon.ico on its own; there is none, and no page links one.
    errors = [entry["message"] for entry in driver.get_log("browser")
              if entry["level"] == "SEVERE" and "/favicon.ico" not in entry["message"]]
    driver.execute_script(axe)
    seen = {
        "shown": shown,
        "text": driver.find_element("tag name", "body").text,
        "console_errors": errors,
        "axe": driver.execute_async_script(AXE_RUN),
        "axe_then": [],
    }
    if page.get("then"):
        driver.execute_script(page["then"])
        time.sleep(1)
        seen["axe_then"] = driver.execute_async_script(AXE_RUN)
    return seen


def main(config):
    axe = open(config["axe"], encoding="utf-8").read()
    driver = chrome()
    try:
        return {page["path"]: visit(driver, config["base"], axe, page) for page in config["pages"]}
    finally:
        driver.quit()


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
