"""Drives headless Chromium through the CalDAV connect form, as a staff member would.

    browser_connect_caldav.py SETTINGS_LINK SERVER_URL USERNAME PASSWORD SCREENSHOT

Opens the settings link, opens "Connect another CalDAV calendar", sends it once with a wrong
password (the message must appear beside the form, the user name kept, the password not), then
with the right one, waits for the settings page to list the connection, saves a screenshot and
prints one JSON object: {"error_shown", "username_kept", "password_kept", "connected", "connections"}.
Exits non-zero on any failure. Chromium is started by `browser.py`.
"""

import json
import sys

from browser import chrome, save_page, waiting
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec


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
    driver = chrome()
    wait = waiting(driver)
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
        save_page(driver, screenshot, 1100)
        print(json.dumps({"error_shown": error_shown, "username_kept": username_kept,
                          "password_kept": password_kept, "connected": True,
                          "connections": len(cards)}))
    finally:
        driver.quit()


if __name__ == "__main__":
    main(*sys.argv[1:6])
