#!/usr/bin/env python3
"""Peer for `kalends ics check FILE`: the same read with Python icalendar.

Parses FILE with icalendar 7.x and, when recurring_ical_events is installed, expands every
event over the default window of `kalends ics check` (from the start of yesterday, UTC, to 18
months from now); prints the number of occurrences that are not STATUS:CANCELLED (kalends drops
cancelled overrides; recurring_ical_events returns them), or, without recurring_ical_events, the
number of parsed VEVENTs.

Run it from a throw-away virtual environment, nothing is installed globally:

    python3 -m venv /tmp/peers-venv
    /tmp/peers-venv/bin/pip install "icalendar>=7,<8" recurring-ical-events
    /tmp/peers-venv/bin/python benches/peers/python_icalendar.py /tmp/feeds/airbnb_10000.ics

Time it as a whole process, like the CLI, e.g. with `hyperfine` or `/usr/bin/time`.
"""

import datetime as dt
import sys

import icalendar


def window():
    now = dt.datetime.now(dt.timezone.utc)
    start = dt.datetime.combine(now.date() - dt.timedelta(days=1), dt.time(0, 0), dt.timezone.utc)
    month = now.month - 1 + 18
    year, month = now.year + month // 12, month % 12 + 1
    day = now.day
    while True:
        try:
            end = now.replace(year=year, month=month, day=day)
            break
        except ValueError:
            day -= 1
    return start, end


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: python_icalendar.py FILE")
    with open(sys.argv[1], "rb") as f:
        calendar = icalendar.Calendar.from_ical(f.read())
    try:
        import recurring_ical_events
    except ImportError:
        print(sum(1 for _ in calendar.walk("VEVENT")))
        return
    start, end = window()
    occurrences = recurring_ical_events.of(calendar).between(start, end)
    print(sum(1 for o in occurrences if str(o.get("STATUS", "")).upper() != "CANCELLED"))


if __name__ == "__main__":
    main()
