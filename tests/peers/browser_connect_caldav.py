"""Drives headless Chromium through the CalDAV connect form, as a staff member would.

    browser_connect_caldav.py SETTINGS_LINK SERVER_URL USERNAME PASSWORD SCREENSHOT

Opens the settings link, opens "Connect another CalDAV calendar", sends it once with a wrong
password (the message must appear beside the form, the user name kept, the password not), then
with the right one, waits for the settings page to list the connection, saves a screenshot and
prints one JSON object: {"error_shown", "username_kept", "password_kept", "connected", "connections"}.
Exits non-zero on any failure. Chromedriver is taken from $KALENDS_TEST_CHROMEDRIVER.
"""

import json
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait


def fill(driver, server, username, password):
    form = driver.find_element(By.CSS_SELECTOR, "form.caldav[data-kind=caldav]")
    details = form.find_element(By.XPATH, "./ancestor::details")
    if not details.get_attribute("open"):
        details.find_element(By.TAG_NAME, "summary").click()
    for name, value in (("server_url", server), ("username", username), ("password", password)):
        field = form.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def main(link, server, username, password, screenshot):
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
        fill(driver, server, username, "wrong-" + password)
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "form.caldav .error-text")))
        driver.save_screenshot(screenshot.replace(".png", "-error.png"))
        form = driver.find_element(By.CSS_SELECTOR, "form.caldav[data-kind=caldav]")
        error_shown = "refused" in form.find_element(By.CSS_SELECTOR, ".error-text").text
        username_kept = form.find_element(By.NAME, "username").get_attribute("value") == username
        password_kept = form.find_element(By.NAME, "password").get_attribute("value") != ""
        fill(driver, server, username, password)
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "main"), "CalDAV calendar is connected"))
        cards = driver.find_elements(By.CSS_SELECTOR, "section.connection")
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1100, max(900, height + 40))
        os.makedirs(os.path.dirname(os.path.abspath(screenshot)), exist_ok=True)
        driver.save_screenshot(screenshot)
        print(json.dumps({"error_shown": error_shown, "username_kept": username_kept,
                          "password_kept": password_kept, "connected": True,
                          "connections": len(cards)}))
    finally:
        driver.quit()


if __name__ == "__main__":
    main(*sys.argv[1:6])
