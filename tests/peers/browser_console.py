"""Drives headless Chromium through the tenant console, as a property manager would.

    browser_console.py CONFIG_JSON

CONFIG_JSON names: "base" (the server), "keys" (two API keys of tenants seeded with the demo: the
first is driven with JavaScript, the second without), "feed" (an Airbnb-style export to import
into "Garden Room (demo)"), "axe" (the path of axe-core's axe.min.js, or null), "shots" (a folder
for the screenshots), "today" (the tenants' own date, YYYY-MM-DD: the demo's stays are placed from
it, and around midnight it is not this machine's).

With JavaScript: signs in by a dashboard link minted through the API, sees the demo, adds an
import ("Check the address", then "Add import"), clicks "Run now" and sees its result arrive,
opens the conflict it causes from the timeline, resolves it with a note, adds a block by picking
its nights on the timeline, sees a booking made through the API arrive without a reload, and signs
out. Every page is checked with
axe-core, at 360 px wide (no horizontal overflow outside the timeline's own scroll box) and for
keyboard use (every action a link, button or form control; Tab reaches only those).
Without JavaScript: the same flows by plain form posts and redirects, with errors in place.

Prints one JSON object: what each flow saw, the accessibility findings ("axe", "narrow",
"keyboard": lists that are empty when all is well) and the screenshots saved. Exits non-zero when
a flow fails. Chromium is started by `browser.py`.
"""

import datetime
import json
import os
import re
import sys
import time
import urllib.request

from browser import AXE_RUN, chrome, replaced, waiting
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select

WIDE = (1280, 900)
NARROW = (360, 800)
ROOM = "Garden Room (demo)"
COTTAGE = "Sea View Cottage (demo)"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def api(base, key, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def retrying(action, tries=5):
    """Runs `action` again when a live update or a navigation replaced the element it held."""
    for attempt in range(tries):
        try:
            return action()
        except WebDriverException as error:
            if attempt == tries - 1 or not replaced(error):
                raise
            time.sleep(0.3)


def content(driver):
    return retrying(lambda: driver.find_element(By.ID, "content").text)


def wait_text(driver, text, timeout=20):
    waiting(driver, timeout).until(
        lambda d: text in content(d), f"{text!r} did not appear on {d_url(driver)}")


def d_url(driver):
    return driver.current_url


def click(driver, by, what, timeout=20):
    """Clicks the element once it is there: a live update or a form's answer may still be
    replacing the page when the previous step's text appeared (slow on a loaded machine)."""
    waiting(driver, timeout).until(ec.presence_of_element_located((by, what)),
                                   f"{what!r} did not appear on {d_url(driver)}")
    retrying(lambda: driver.find_element(by, what).click())


def nav(driver, label, title):
    click(driver, By.XPATH, f"//nav[@aria-label='Console']//a[normalize-space()='{label}']")
    waiting(driver, 20).until(ec.title_contains(title))
    wait_h1(driver, title.split(":")[0])


def wait_h1(driver, heading):
    waiting(driver, 20).until(
        lambda d: retrying(lambda: d.find_element(By.CSS_SELECTOR, "#content h1").text).startswith(heading),
        f"the page's heading is not {heading!r}")


def fill(driver, field_id, text):
    def go():
        field = driver.find_element(By.ID, field_id)
        field.clear()
        field.send_keys(text)
    retrying(go)


# Saturday first, as the rules flow would pick it: (Python's weekday, the label, the field's day).
WEEKDAYS = [(5, "Saturday", "sat"), (6, "Sunday", "sun"), (0, "Monday", "mon"), (1, "Tuesday", "tue")]

# The tenants' date (set from the configuration by main): the demo places its stays from the
# tenant's own today, which near midnight is not this machine's.
TODAY = None


def day(n):
    return TODAY + datetime.timedelta(days=n)


def type_date(driver, field_id, date):
    """A date field, typed as a person types it (month, day, year in the en-US locale)."""
    def go():
        field = driver.find_element(By.ID, field_id)
        field.click()
        field.send_keys(date.strftime("%m%d%Y"))
    retrying(go)


def blur(driver):
    driver.execute_script("if (document.activeElement) document.activeElement.blur()")


# ----------------------------------------------------------------------------------- the checks

OVERFLOW = """
var width = document.documentElement.clientWidth, found = [];
if (document.documentElement.scrollWidth > width + 1) {
  found.push('the page scrolls sideways: ' + document.documentElement.scrollWidth + 'px wide in ' + width + 'px');
}
document.querySelectorAll('body *').forEach(function (el) {
  if (el.parentElement.closest('.timeline-wrap') || el.closest('.skip')) return;
  var r = el.getBoundingClientRect();
  if (r.width > 0 && r.right > width + 1) {
    var parent = el.parentElement.getBoundingClientRect();
    // Only where the overflow starts, not every child of an element that overflows.
    if (parent.right <= width + 1) {
      found.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
        (el.className && typeof el.className === 'string' ? '.' + el.className.trim().replace(/\\s+/g, '.') : '') +
        ' ends at ' + Math.round(r.right) + 'px: ' + (el.textContent || '').trim().slice(0, 40));
    }
  }
});
return found.slice(0, 10);
"""

KEYBOARD = """
var actions = ['a', 'button', 'input', 'select', 'textarea', 'summary', 'label', 'option'];
var found = [];
function name(el) {
  return el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' "' + (el.textContent || '').trim().slice(0, 30) + '"';
}
document.querySelectorAll('[onclick], [hx-get], [hx-post], [hx-put], [hx-delete], [hx-trigger], [data-copy], [tabindex]')
  .forEach(function (el) {
    var tag = el.tagName.toLowerCase();
    if (el.hasAttribute('tabindex') && Number(el.getAttribute('tabindex')) > 0) found.push('positive tabindex on ' + name(el));
    // A scroll box takes the focus (tabindex 0) so that the keyboard scrolls it.
    var scrollBox = el.getAttribute('role') === 'region' && el.getAttribute('tabindex') === '0';
    if (tag !== 'form' && tag !== 'body' && !scrollBox && actions.indexOf(tag) < 0) found.push('an action on a ' + name(el));
  });
document.querySelectorAll('body *').forEach(function (el) {
  if (getComputedStyle(el).cursor === 'pointer' && !el.closest('a[href], button, label, summary, select, input')) {
    found.push('looks clickable but is not a control: ' + name(el));
  }
});
document.querySelectorAll('a:not([href])').forEach(function (el) { found.push('a link without an address: ' + name(el)); });
return found;
"""

CONTROLS = "#content a[href], #content button, #content input:not([type=hidden]), #content select, #content textarea"

MARK_SHOWN = """
document.querySelectorAll('%s').forEach(function (el) {
  if (el.getClientRects().length) el.setAttribute('data-shown-wide', '');
});
""" % CONTROLS

HIDDEN_NARROW = """
return Array.from(document.querySelectorAll('[data-shown-wide]')).filter(function (el) {
  return !el.getClientRects().length;
}).map(function (el) { return 'hidden at 360 px: ' + el.tagName.toLowerCase() + ' "' + (el.textContent || el.name || '').trim().slice(0, 30) + '"'; });
"""

NOT_REACHED = """
return Array.from(document.querySelectorAll(
  'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex="0"]'
)).filter(function (el) {
  // What a closed <details> holds is reached by opening it (its summary is checked).
  var closed = el.closest('details:not([open])');
  if (closed && !(el.tagName === 'SUMMARY' && el.parentElement === closed)) return false;
  return el.getClientRects().length && !el.disabled && !el.hasAttribute('data-tab-seen');
}).map(function (el) { return el.tagName.toLowerCase() + ' "' + (el.textContent || el.name || '').trim().slice(0, 30) + '"'; });
"""

FOCUSED = """
var el = document.activeElement;
if (el) el.setAttribute('data-tab-seen', '');
if (el && el.getAttribute('role') === 'region') return ['region', '', el.getAttribute('aria-labelledby') || ''];
return el ? [el.tagName.toLowerCase(), el.getAttribute('type') || '', (el.textContent || el.value || '').trim().slice(0, 30)] : null;
"""


SWAPS = """
if (!window.kalendsSwapHook) {
  window.kalendsSwapHook = true;
  window.kalendsSwaps = 0;
  document.body.addEventListener('htmx:afterSwap', function () { window.kalendsSwaps += 1; });
}
return [window.kalendsSwaps, document.body.getAttribute('data-version')];
"""


def changes(driver):
    """What tells a live update apart: htmx swaps so far, and the last change event's number."""
    return driver.execute_script(SWAPS)


def quiet(driver, still=1.5, longest=15):
    """Waits until no live update came for `still` seconds; returns the state then."""
    seen, since, deadline = changes(driver), time.time(), time.time() + longest
    while time.time() < deadline and time.time() - since < still:
        time.sleep(0.25)
        now = changes(driver)
        if now != seen:
            seen, since = now, time.time()
    return seen


class Checks:
    """The accessibility checks, page by page, with their findings."""

    def __init__(self, axe_path, shots):
        self.axe = open(axe_path, encoding="utf-8").read() if axe_path else None
        self.shots = shots
        self.findings = {"axe": [], "narrow": [], "keyboard": []}
        self.pages = []
        self.saved = []

    def page(self, driver, label):
        """Checks the page; again when a live update replaced its content meanwhile."""
        blur(driver)
        self.pages.append(label)
        for _ in range(5):
            before = quiet(driver)
            findings = {name: [] for name in self.findings}
            self.check(driver, label, findings)
            if changes(driver) == before:
                break
        for name, found in findings.items():
            self.findings[name].extend(found)

    def check(self, driver, label, findings):
        if self.axe:
            if not driver.execute_script("return !!window.axe"):
                driver.execute_script(self.axe)
            for violation in driver.execute_async_script(AXE_RUN):
                findings["axe"].append({"page": label, **violation})
        for problem in driver.execute_script(KEYBOARD):
            findings["keyboard"].append(f"{label}: {problem}")
        self.tab_through(driver, label, findings)
        driver.execute_script(MARK_SHOWN)
        driver.set_window_size(*NARROW)
        try:
            time.sleep(0.2)
            for problem in driver.execute_script(OVERFLOW) + driver.execute_script(HIDDEN_NARROW):
                findings["narrow"].append(f"{label}: {problem}")
            if self.axe:
                # Narrow, the timeline scrolls: axe checks that the keyboard can scroll it too.
                for violation in driver.execute_async_script(AXE_RUN):
                    findings["axe"].append({"page": f"{label} at 360 px", **violation})
        finally:
            driver.set_window_size(*WIDE)
            time.sleep(0.2)

    def tab_through(self, driver, label, findings, presses=200):
        """Tab from the top: the skip link comes first, and focus only lands on controls."""
        # Focus on the page itself: the next Tab starts from the top, whatever the address's #fragment.
        driver.execute_script(
            "document.querySelectorAll('[data-tab-seen]').forEach(function (el) { el.removeAttribute('data-tab-seen') }); "
            "window.scrollTo(0, 0); var b = document.body; b.setAttribute('tabindex', '-1'); b.focus(); "
            "b.removeAttribute('tabindex')")
        ActionChains(driver).send_keys(Keys.TAB).perform()
        first = driver.execute_script(FOCUSED)
        if not first or first[0] != "a" or first[2] != "Skip to content":
            findings["keyboard"].append(f"{label}: the first Tab lands on {first}, not the skip link")
        previous = first
        for press in range(presses):
            focused = driver.execute_script(FOCUSED)
            if press > 0 and focused and focused[0] == "body":
                break  # past the last control: the focus left the page
            if not focused or focused[0] not in ("a", "button", "input", "select", "textarea", "summary", "region"):
                findings["keyboard"].append(f"{label}: Tab {press + 1} from {previous} landed on {focused}")
                break
            previous = focused
            ActionChains(driver).send_keys(Keys.TAB).perform()
        else:
            return
        for control in driver.execute_script(NOT_REACHED):
            findings["keyboard"].append(f"{label}: Tab never reaches {control}")
        blur(driver)
        driver.execute_script("window.scrollTo(0, 0)")

    def shot(self, driver, name, size=WIDE):
        """A screenshot whose viewport (not window) is `size`."""
        blur(driver)
        quiet(driver)
        driver.set_window_size(*size)
        chrome_height = driver.execute_script("return window.outerHeight - window.innerHeight")
        driver.set_window_size(size[0], size[1] + chrome_height)
        try:
            driver.execute_script("window.scrollTo(0, 0)")
            time.sleep(0.3)
            path = os.path.join(self.shots, f"console-{name}.png")
            driver.save_screenshot(path)
            self.saved.append(path)
        finally:
            driver.set_window_size(*WIDE)


# ------------------------------------------------------------------------------------ the flows

def sign_in(driver, config, key):
    link = api(config["base"], key, "POST", "/api/v1/dashboard-link")["url"]
    driver.get(link)
    waiting(driver, 20).until(ec.title_contains("Overview"))
    text = content(driver)
    for name in (COTTAGE, ROOM):
        assert name in text, f"the demo's {name} shows on the overview"
    return text


def import_row(driver):
    """The row of the import this run added (named by its platform, unlike the demo's)."""
    for row in driver.find_elements(By.CSS_SELECTOR, "table.list tbody tr"):
        if row.find_element(By.CSS_SELECTOR, "td a").text == "Airbnb":
            return row
    return None


def run_result(driver):
    row = import_row(driver)
    if row is None:
        return None
    text = row.find_elements(By.TAG_NAME, "td")[2].text
    return None if "Not run yet" in text else text


def add_import(driver, config, js, checks):
    """Calendar sync for the Garden Room: check the address, add it, run it now."""
    seen = {}
    nav(driver, "Calendar sync", "Calendar sync")
    click(driver, By.XPATH, f"//nav[@aria-label='Properties']//a[normalize-space()='{ROOM}']")
    waiting(driver, 20).until(ec.title_contains(ROOM))
    if not js:
        # A bad address comes back in place, with what was typed.
        fill(driver, "url", "ftp://example.com/cal.ics")
        click(driver, By.XPATH, "//button[normalize-space()='Add import']")
        waiting(driver, 20).until(lambda d: d.find_elements(By.ID, "url-error"))
        seen["bad_address_error"] = driver.find_element(By.ID, "url-error").text
        assert driver.find_element(By.ID, "url").get_attribute("value") == "ftp://example.com/cal.ics"
        assert driver.find_element(By.ID, "url").get_attribute("aria-invalid") == "true"
    retrying(lambda: Select(driver.find_element(By.ID, "platform")).select_by_value("airbnb"))
    fill(driver, "url", config["feed"])
    fill(driver, "interval_minutes", "60")
    click(driver, By.XPATH, "//button[normalize-space()='Check the address']")
    wait_text(driver, "The address works")
    seen["checked"] = retrying(lambda: driver.find_element(By.CSS_SELECTOR, "div.preview").text)
    assert driver.find_element(By.ID, "url").get_attribute("value") == config["feed"], "the address stays"
    if js:
        checks.page(driver, "calendar sync, address checked")
    click(driver, By.XPATH, "//button[normalize-space()='Add import']")
    wait_text(driver, "The import is saved")
    seen["added"] = True
    seen["added_at"] = driver.current_url
    waiting(driver, 20).until(lambda d: retrying(lambda: import_row(d)) is not None)
    retrying(lambda: import_row(driver).find_element(By.XPATH, ".//button[normalize-space()='Run now']").click())
    wait_text(driver, "The import is running")
    # With JavaScript the result arrives by itself; without, the manager reloads.
    deadline = time.time() + 60
    result = None
    while time.time() < deadline and not result:
        result = retrying(lambda: run_result(driver))
        if not result:
            time.sleep(0.5)
            if not js:
                driver.refresh()
    assert result, "the run's result shows"
    seen["run_result"] = result
    return seen


def resolve_conflict(driver, js, checks):
    """From the overview's timeline to the conflict the import caused, resolved with a note."""
    seen = {}
    nav(driver, "Overview", "Overview")
    if js:
        checks.shot(driver, "overview")
        checks.shot(driver, "overview-360", NARROW)
        checks.page(driver, "overview")
    # The Garden Room's cell 13 days from now (the import's reservation against Okafor's stay).
    row = driver.find_element(By.XPATH, f"//table[contains(@class,'timeline')]//tr[th[normalize-space()='{ROOM}']]")
    cell = row.find_elements(By.TAG_NAME, "td")[13]
    assert "conflict" in cell.get_attribute("class"), f"the import's reservation is a conflict: {cell.get_attribute('class')}"
    link = cell.find_element(By.TAG_NAME, "a")
    target = link.get_attribute("href").split("#c-")[1]
    link.click()
    waiting(driver, 20).until(ec.title_contains("Conflicts"))
    wait_h1(driver, "Conflicts")
    card = f"c-{target}"
    card_text = retrying(lambda: driver.find_element(By.ID, card).text)
    assert "Imported feed" in card_text and "Okafor" in card_text, card_text
    seen["conflict"] = target
    seen["url_names_it"] = driver.current_url.endswith(f"#{card}")
    if js:
        checks.shot(driver, "conflicts")
        checks.page(driver, "conflicts")
    note_field = f"note-{target}"
    if not js:
        # Too long a note comes back in place, with what was typed.
        long = "x" * 2001
        driver.find_element(By.ID, note_field).send_keys(long)
        driver.find_element(By.ID, card).find_element(By.XPATH, ".//button[normalize-space()='Resolve']").click()
        waiting(driver, 20).until(lambda d: d.find_elements(By.ID, "note-error"))
        seen["long_note_error"] = driver.find_element(By.ID, "note-error").text
        assert len(driver.find_element(By.ID, note_field).get_attribute("value")) == 2001
    note = "Moved the Airbnb guest to the Sea View Cottage"
    fill(driver, note_field, note)
    retrying(lambda: driver.find_element(By.ID, card).find_element(By.XPATH, ".//button[normalize-space()='Resolve']").click())
    wait_text(driver, "The conflict is resolved")
    seen["resolved_at"] = driver.current_url
    assert not driver.find_elements(By.ID, card), "the conflict left the open list"
    seen["resolved"] = True
    return seen


TIMELINE_CELL = """
var table = document.querySelector('table.timeline'), col = -1, heads = table.tHead.rows[0].cells;
for (var i = 0; i < heads.length; i++) if (heads[i].getAttribute('data-day') === arguments[1]) col = i;
for (var r of table.tBodies[0].rows) if (r.cells[0].textContent.trim() === arguments[0]) return r.cells[col];
return null;"""


# What the console's live stream does when something changed: the page's content fetched again
# and swapped in place.
LIVE_REFRESH = """
window.htmx.ajax('GET', window.location.href, {target: '#content', select: '#content', swap: 'outerHTML'});
"""


def block_from_timeline(driver, first, last):
    """Picks the nights `first` to `last` of the cottage on the 90-day timeline."""
    nav(driver, "Overview", "Overview")
    click(driver, By.XPATH, "//a[normalize-space()='90 days']")
    waiting(driver, 20).until(lambda d: "days=90" in d.current_url)
    waiting(driver, 20).until(lambda d: d.find_element(By.ID, "timeline-hint").is_displayed())
    retrying(lambda: driver.execute_script(TIMELINE_CELL, COTTAGE, first.isoformat()).click())
    waiting(driver, 20).until(lambda d: "From the night of" in d.find_element(By.ID, "timeline-hint").text)
    # A live refresh between the two clicks (what a change elsewhere sends the open console)
    # swaps the timeline for a new one: the picked night stays picked.
    swaps = changes(driver)[0]
    driver.execute_script(LIVE_REFRESH)
    waiting(driver, 20).until(lambda d: changes(d)[0] > swaps, "the live refresh swapped the page")
    picked = driver.execute_script(TIMELINE_CELL, COTTAGE, first.isoformat())
    assert "picked" in picked.get_attribute("class"), "the pick survived the live refresh"
    assert "From the night of" in driver.find_element(By.ID, "timeline-hint").text
    retrying(lambda: driver.execute_script(TIMELINE_CELL, COTTAGE, last.isoformat()).click())
    waiting(driver, 20).until(ec.title_contains("Blocks"))


def add_block(driver, js, checks):
    seen = {}
    if js:
        # From the timeline: the form opens with the property and the nights filled in.
        block_from_timeline(driver, day(48), day(49))
        picked = [driver.find_element(By.ID, f).get_attribute("value") for f in ("start_date", "end_date")]
        seen["from_timeline"] = picked == [day(48).isoformat(), day(50).isoformat()]
        chosen = Select(driver.find_element(By.ID, "resource_id")).first_selected_option.text
        seen["from_timeline_property"] = chosen == COTTAGE
    else:
        nav(driver, "Blocks", "Blocks")
        retrying(lambda: Select(driver.find_element(By.ID, "resource_id")).select_by_visible_text(COTTAGE))
    fill(driver, "reason", "Roof repair")
    if not js:
        type_date(driver, "start_date", day(50))
        type_date(driver, "end_date", day(48))
        click(driver, By.XPATH, "//button[normalize-space()='Add block']")
        waiting(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "p.field-error"))
        seen["bad_dates_error"] = driver.find_element(By.CSS_SELECTOR, "p.field-error").text
        assert driver.find_element(By.ID, "reason").get_attribute("value") == "Roof repair", "what was typed is kept"
    if not js:
        type_date(driver, "start_date", day(48))
        type_date(driver, "end_date", day(50))
    click(driver, By.XPATH, "//button[normalize-space()='Add block']")
    wait_text(driver, "The block is added")
    seen["added_at"] = driver.current_url
    assert "Roof repair" in content(driver)
    seen["added"] = True
    if js:
        checks.shot(driver, "blocks")
        checks.page(driver, "blocks")
    return seen


def open_and_check(driver, checks, link, heading, label):
    """Follows the link `link` (an XPath), waits for the page headed `heading` and checks it."""
    click(driver, By.XPATH, link)
    wait_h1(driver, heading)
    checks.page(driver, label)


def set_rules(driver, checks):
    """Sets the Garden Room's availability rules from the overview: a shortest stay of 0 is
    refused under its field with everything typed kept; 2 is saved, and the nights the rules
    close (the notice, beyond the window) show on the timeline, named in their titles. The room,
    not the cottage: the live update books the cottage, which these rules would refuse."""
    nav(driver, "Overview", "Overview")
    open_and_check(driver, checks, "//a[normalize-space()='Availability rules']",
                   "Availability rules", "availability rules")
    open_and_check(driver, checks, f"//a[normalize-space()='Rules of {ROOM}']",
                   "Availability rules of", "rules of a property")
    fill(driver, "turnover_days", "1")
    fill(driver, "min_nights", "0")
    fill(driver, "min_notice_days", "1")
    fill(driver, "booking_window_days", "10")
    # No check-in on a weekday none of the room's demo stays arrives on (days 2 and 12): on the
    # days those fall on a Saturday, a Saturday rule would open a conflict of its own.
    arrivals = {day(2).weekday(), day(12).weekday()}
    name, short = next((n, s) for i, n, s in WEEKDAYS if i not in arrivals)
    click(driver, By.XPATH, f"//label[normalize-space()='{name}'][ancestor::fieldset[legend[normalize-space()='No check-in on']]]/input")
    click(driver, By.XPATH, "//input[@name='export_to_feeds']")
    click(driver, By.XPATH, "//button[normalize-space()='Save rules']")
    waiting(driver, 20).until(lambda d: d.find_elements(By.ID, "min_nights-error"))
    seen = {"error": driver.find_element(By.ID, "min_nights-error").text}
    seen["kept"] = (
        driver.find_element(By.ID, "turnover_days").get_attribute("value") == "1"
        and driver.find_element(By.NAME, f"no_arrival_days.{short}").is_selected()
        and driver.find_element(By.NAME, "export_to_feeds").is_selected()
        and driver.find_element(By.ID, "min_nights").get_attribute("aria-invalid") == "true")
    checks.page(driver, "rules with an error")
    fill(driver, "min_nights", "2")
    click(driver, By.XPATH, "//button[normalize-space()='Save rules']")
    wait_text(driver, "The availability rules are saved")
    seen["saved_at"] = driver.current_url
    seen["saved"] = driver.find_element(By.ID, "min_nights").get_attribute("value") == "2"
    checks.shot(driver, "rules")
    checks.page(driver, "rules, saved")
    nav(driver, "Overview", "Overview")
    titles = retrying(lambda: [td.get_attribute("title") for td in driver.find_elements(By.CSS_SELECTOR, "td.cell.rule")])
    seen["timeline_rule_titles"] = titles[:3]
    seen["legend"] = "Closed by a rule" in content(driver)
    checks.page(driver, "overview with rule-closed nights")
    return seen


def add_webhook(driver, checks):
    """Adds an endpoint from the console: its signing secret is shown once, then never again."""
    nav(driver, "Webhooks", "Webhooks")
    checks.page(driver, "webhooks")
    fill(driver, "url", "https://hooks.example.com/kalends")
    fill(driver, "description", "Front desk system")
    for kind in ("conflict.opened", "feed_item.created"):
        click(driver, By.XPATH, f"//label[code[normalize-space()='{kind}']]/input")
    click(driver, By.XPATH, "//button[normalize-space()='Add endpoint']")
    waiting(driver, 20).until(lambda d: d.find_elements(By.ID, "secret-title"))
    shown = "whsec_" in content(driver)
    checks.shot(driver, "webhooks")
    checks.page(driver, "webhooks, with the new secret")
    nav(driver, "Webhooks", "Webhooks")
    return {"secret_shown": shown, "secret_shown_again": "whsec_" in content(driver),
            "listed": "Front desk system" in content(driver)}


def work_a_checklist(driver, checks):
    """Lists the cottage on MakeMyTrip by hand: its stays become nights to close there; one is
    marked done with one tap, on a phone-sized screen."""
    nav(driver, "Checklists", "Checklists")
    checks.page(driver, "checklists, nothing listed yet")
    retrying(lambda: Select(driver.find_element(By.ID, "resource_id")).select_by_visible_text(COTTAGE))
    Select(driver.find_element(By.ID, "platform")).select_by_visible_text("MakeMyTrip")
    fill(driver, "room", "Deluxe Sea View")
    click(driver, By.XPATH, "//button[normalize-space()='Add listing']")
    wait_text(driver, "The listing is saved")
    # The checklist is made by a job: the live stream brings it onto the open page.
    waiting(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "article.check-item"))
    driver.set_window_size(*NARROW)
    items = len(driver.find_elements(By.CSS_SELECTOR, "article.check-item"))
    first = retrying(lambda: driver.find_element(By.CSS_SELECTOR, "article.check-item p.action").text)
    click(driver, By.XPATH, "(//article[contains(@class,'check-item')]//button[normalize-space()='Done'])[1]")
    wait_text(driver, "Marked done")
    left = len(driver.find_elements(By.CSS_SELECTOR, "article.check-item"))
    driver.set_window_size(*WIDE)
    checks.shot(driver, "checklists", NARROW)
    checks.page(driver, "checklists")
    return {"items": items, "first": first, "left_after_done": left}


def live_update(driver, config, key):
    """A booking made through the API while the overview is open appears without a reload."""
    # The team calendar open before this is the overview's own path with a query
    # (/dashboard?view=staff...), and a boosted navigation swaps the page before it records the
    # new address: wait for the whole address to be the link's, not only its path, so that the
    # address compared below is the overview's and not the team calendar's.
    link = driver.find_element(By.XPATH, "//nav[@aria-label='Console']//a[normalize-space()='Overview']")
    overview = link.get_attribute("href")
    nav(driver, "Overview", "Overview")
    blur(driver)
    waiting(driver, 20).until(lambda d: d.current_url == overview,
                              "the address did not become the overview's")
    driver.execute_script("window.kalendsMarker = 'still the same page'")
    url = driver.current_url
    cottage = next(r for r in api(config["base"], key, "GET", "/api/v1/resources")["items"] if r["name"] == COTTAGE)
    title = "Walk-in guest (live)"
    api(config["base"], key, "POST", "/api/v1/bookings", {
        "resource_id": cottage["id"], "title": title,
        "start_date": str(day(6)), "end_date": str(day(7))})
    started = time.time()
    waiting(driver, 20).until(
        lambda d: title in retrying(lambda: d.find_element(By.ID, "content").get_attribute("innerHTML")),
        "the new booking did not arrive")
    return {
        "arrived_after_seconds": round(time.time() - started, 1),
        "same_page": driver.execute_script("return window.kalendsMarker") == "still the same page",
        "same_address": driver.current_url == url,
        "live_status": driver.find_element(By.ID, "live-status").text,
    }


def sign_out(driver):
    click(driver, By.XPATH, "//button[normalize-space()='Sign out']")
    waiting(driver, 20).until(ec.title_contains("Signed out"))
    signed_out = "You are signed out" in driver.find_element(By.TAG_NAME, "main").text
    driver.get(driver.current_url.split("/dashboard")[0] + "/dashboard")
    waiting(driver, 20).until(ec.title_contains("Signed out"))
    return signed_out and "session has ended" in driver.find_element(By.TAG_NAME, "main").text


def with_javascript(config, checks):
    driver = chrome(WIDE, js=True, flags=["--hide-scrollbars"])
    seen = {}
    try:
        key = config["keys"][0]
        sign_in(driver, config, key)
        waiting(driver, 20).until(
            lambda d: "Live" in d.find_element(By.ID, "live-status").text, "the live stream opens")
        seen["import"] = add_import(driver, config, True, checks)
        checks.shot(driver, "sync")
        checks.page(driver, "calendar sync")
        click(driver, By.XPATH, "//table//td/a[normalize-space()='Airbnb']")
        waiting(driver, 20).until(ec.title_contains("Import:"))
        checks.page(driver, "import settings and runs")
        seen["conflict"] = resolve_conflict(driver, True, checks)
        checks.page(driver, "conflicts, after resolving")
        seen["block"] = add_block(driver, True, checks)
        seen["rules"] = set_rules(driver, checks)
        open_and_check(driver, checks, "//a[normalize-space()='Properties']", "Properties",
                       "properties")
        open_and_check(driver, checks, f"//tr[td[normalize-space()='{ROOM}']]//a", "Properties",
                       "a property's form")
        nav(driver, "Staff and calendars", "Staff and calendars")
        click(driver, By.XPATH, "//button[normalize-space()='Make a settings link']")
        waiting(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".copy-row input"))
        checks.shot(driver, "staff")
        checks.page(driver, "staff and calendars")
        seen["webhooks"] = add_webhook(driver, checks)
        seen["checklist"] = work_a_checklist(driver, checks)
        nav(driver, "Settings", "Settings")
        checks.shot(driver, "settings")
        checks.page(driver, "settings")
        fill(driver, "time_zone", "Mars/Olympus")
        click(driver, By.XPATH, "//button[normalize-space()='Save settings']")
        waiting(driver, 20).until(lambda d: d.find_elements(By.ID, "time_zone-error"))
        checks.page(driver, "settings with an error")
        nav(driver, "Organisation", "Organisation")
        checks.page(driver, "organisation")
        fill(driver, "service_account_key", "not a key")
        fill(driver, "domain", "salon.example")
        fill(driver, "admin_email", "admin@salon.example")
        click(driver, By.XPATH, "//button[normalize-space()='Check and connect']")
        waiting(driver, 20).until(lambda d: d.find_elements(By.ID, "service_account_key-error"))
        checks.page(driver, "organisation with an error")
        driver.get(config["base"] + "/dashboard?view=staff&days=30")
        wait_h1(driver, "Overview")
        checks.page(driver, "team calendar")
        seen["live"] = live_update(driver, config, key)
        seen["signed_out"] = sign_out(driver)
    except Exception:
        log("with JavaScript, failed at", driver.current_url, "titled", driver.title)
        log("the page said:", content(driver)[:600])
        raise
    finally:
        driver.quit()
    return seen


def without_javascript(config):
    driver = chrome(WIDE, js=False, flags=["--hide-scrollbars"])
    seen = {}
    try:
        sign_in(driver, config, config["keys"][1])
        seen["scripts_off"] = driver.find_element(By.ID, "live-status").text == ""
        seen["import"] = add_import(driver, config, False, None)
        seen["conflict"] = resolve_conflict(driver, False, None)
        seen["block"] = add_block(driver, False, None)
        seen["signed_out"] = sign_out(driver)
    finally:
        driver.quit()
    return seen


def main(config):
    global TODAY
    TODAY = datetime.date.fromisoformat(config["today"])
    os.makedirs(config["shots"], exist_ok=True)
    checks = Checks(config.get("axe"), config["shots"])
    result = {"js": with_javascript(config, checks), "nojs": without_javascript(config)}
    result.update(checks.findings)
    result["pages_checked"] = checks.pages
    result["axe_ran"] = checks.axe is not None
    result["screenshots"] = checks.saved
    print(json.dumps(result))


if __name__ == "__main__":
    try:
        main(json.loads(sys.argv[1]))
    except TimeoutException as e:
        log(f"timed out: {e.msg}")
        raise
