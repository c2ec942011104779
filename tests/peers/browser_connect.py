"""Drives headless Chromium through the connect flow, as a staff member would.

    browser_connect.py SETTINGS_LINK SCREENSHOT

Opens the settings link, clicks "Connect Google", clicks "Allow" on the sandbox's consent page,
waits for the settings page to list the connection, saves a screenshot of it, and prints one JSON
object: {"connected": true, "connections": N, "title": "..."}. Exits non-zero on any failure.
Chromium is started by `browser.py`.
"""

import json
import sys

from browser import chrome, save_page, waiting
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec


def main(link: str, screenshot: str) -> None:
    driver = chrome()
    wait = waiting(driver)
    try:
        driver.get(link)
        wait.until(ec.title_contains("Your calendars"))
        driver.find_element(By.PARTIAL_LINK_TEXT, "Connect Google").click()
        wait.until(ec.title_contains("Allow Kalends to manage your calendar?"))
        driver.find_element(By.CSS_SELECTOR, "button.allow").click()
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "main"), "Google Calendar is connected"))
        cards = driver.find_elements(By.CSS_SELECTOR, "section.connection")
        save_page(driver, screenshot, 1100)
        print(json.dumps({"connected": True, "connections": len(cards), "title": driver.title}))
    finally:
        driver.quit()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
