"""Drives headless Chromium through the connect flow, as a staff member would.

    browser_connect.py SETTINGS_LINK SCREENSHOT

Opens the settings link, clicks "Connect Google", clicks "Allow" on the sandbox's consent page,
waits for the settings page to list the connection, saves a screenshot of it, and prints one JSON
object: {"connected": true, "connections": N, "title": "..."}. Exits non-zero on any failure.
Chromedriver is taken from $KALENDS_TEST_CHROMEDRIVER (default /usr/bin/chromedriver).
"""

import json
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait


def main(link: str, screenshot: str) -> None:
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1100,900", "--lang=en-US"):
        options.add_argument(flag)
    service = Service(os.environ.get("KALENDS_TEST_CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    wait = WebDriverWait(driver, 20)
    try:
        driver.get(link)
        wait.until(ec.title_contains("Your calendars"))
        driver.find_element(By.PARTIAL_LINK_TEXT, "Connect Google").click()
        wait.until(ec.title_contains("Allow Kalends to manage your calendar?"))
        driver.find_element(By.CSS_SELECTOR, "button.allow").click()
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "main"), "Google Calendar is connected"))
        cards = driver.find_elements(By.CSS_SELECTOR, "section.connection")
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1100, max(900, height + 40))
        os.makedirs(os.path.dirname(os.path.abspath(screenshot)), exist_ok=True)
        driver.save_screenshot(screenshot)
        print(json.dumps({"connected": True, "connections": len(cards), "title": driver.title}))
    finally:
        driver.quit()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
