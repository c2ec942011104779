#!/usr/bin/env python3
"""Reads an iCalendar file strictly with Python `icalendar` 7.x and prints its events as JSON.

    validate_ics.py FILE

Prints one JSON object on stdout:

    {"events": [{"uid", "summary", "status", "start", "end", "all_day"}, ...]}

`start` and `end` are ISO strings: `2025-03-01` for whole days, `2025-03-01T09:00:00+00:00` (UTC)
for times. Times with a TZID are converted with the file's own VTIMEZONE (through dateutil's
`tzical`, via `Timezone.to_tz(lookup_tzid=False)`), not with the system's zone database, so that
a wrong VTIMEZONE shows as a wrong time. `summary` and `status` are null when absent.

Exits non-zero, with the reason on stderr, when the file is not strict RFC 5545 as far as checked:
a line not ended by CRLF, a bare CR or LF, a line longer than 75 octets, invalid UTF-8, anything
icalendar cannot parse or records as a property error, a TZID without its VTIMEZONE, a floating
time, or an event without UID or DTSTART.
"""

import json
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import icalendar


class Invalid(Exception):
    """The file is not valid."""


def check_lines(raw: bytes) -> None:
    """CRLF after every line, no bare CR or LF, at most 75 octets per line, UTF-8."""
    if not raw.endswith(b"\r\n"):
        raise Invalid("the last line does not end with CRLF")
    for number, line in enumerate(raw[:-2].split(b"\r\n"), start=1):
        if b"\r" in line or b"\n" in line:
            raise Invalid(f"line {number}: bare CR or LF")
        if len(line) > 75:
            raise Invalid(f"line {number}: {len(line)} octets (at most 75)")
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise Invalid(f"line {number}: {error}") from error


def check_errors(calendar: icalendar.Calendar) -> None:
    """icalendar parses some components leniently and records the errors; strict means none."""
    for component in calendar.walk():
        if component.errors:
            raise Invalid(f"{component.name}: {component.errors}")


def moment(prop, zones: dict) -> tuple[str, bool]:
    """A DTSTART/DTEND as (ISO string, whole day)."""
    value = prop.dt
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat(), True
    tzid = prop.params.get("TZID")
    if tzid is not None:
        if tzid not in zones:
            raise Invalid(f"TZID={tzid} has no VTIMEZONE")
        value = value.replace(tzinfo=zones[tzid])
    elif value.tzinfo is None:
        raise Invalid(f"floating time {value.isoformat()}")
    return value.astimezone(timezone.utc).isoformat(), False


def event_json(event, zones: dict) -> dict:
    for name in ("UID", "DTSTART"):
        if name not in event:
            raise Invalid(f"VEVENT without {name}")
    start, all_day = moment(event["DTSTART"], zones)
    end = moment(event["DTEND"], zones)[0] if "DTEND" in event else None
    summary = event.get("SUMMARY")
    status = event.get("STATUS")
    return {
        "uid": str(event["UID"]),
        "summary": None if summary is None else str(summary),
        "status": None if status is None else str(status),
        "start": start,
        "end": end,
        "all_day": all_day,
    }


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: validate_ics.py FILE", file=sys.stderr)
        return 2
    try:
        raw = Path(sys.argv[1]).read_bytes()
        check_lines(raw)
        calendar = icalendar.Calendar.from_ical(raw)
        check_errors(calendar)
        zones = {str(tz["TZID"]): tz.to_tz(lookup_tzid=False) for tz in calendar.walk("VTIMEZONE")}
        events = [event_json(event, zones) for event in calendar.walk("VEVENT")]
    except Exception as error:  # noqa: BLE001 - any failure means the file is not valid
        print(f"validate_ics.py: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"events": events}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
