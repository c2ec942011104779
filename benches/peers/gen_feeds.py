#!/usr/bin/env python3
"""Writes the benchmark feeds for `kalends ics check` and its peers.

Usage: python3 benches/peers/gen_feeds.py OUT_DIR [--start YYYY-MM-DD]

Writes, deterministically (no third-party modules, fixed seed):
  OUT_DIR/airbnb_10000.ics  10,000 all-day VEVENTs shaped like Airbnb's export (RiCal 0.8.8:
                            DTEND before DTSTART, VALUE=DATE, no DTSTAMP, a folded DESCRIPTION
                            with the reservation URL), alternating "Reserved" and
                            "Airbnb (Not available)", starting evenly over the 540 days from
                            --start (default: today), so all of them fall in the default window
                            of `kalends ics check` (yesterday to 18 months ahead); LF line ends
                            like the real file.
  OUT_DIR/airbnb_100000.ics the same shape with 100,000 VEVENTs (about 23 MB; its own seed).
  OUT_DIR/google_1000.ics   1,000 timed VEVENTs (overrides included) shaped like a Google Calendar export (VTIMEZONE
                            Europe/Berlin and America/New_York, X-WR-TIMEZONE, CRLF), about 20%
                            weekly or daily RRULEs (COUNT, UNTIL or open-ended) with EXDATEs, and
                            RECURRENCE-ID overrides for some of the series.
"""

import datetime as dt
import os
import random
import sys


def fold(line):
    """Folds a content line at 75 octets (RFC 5545 3.1)."""
    data = line.encode("utf-8")
    if len(data) <= 75:
        return [line]
    out, chunk, size = [], "", 0
    for ch in line:
        n = len(ch.encode("utf-8"))
        if size + n > (75 if not out else 74):
            out.append(chunk if not out else " " + chunk)
            chunk, size = "", 0
        chunk += ch
        size += n
    out.append(chunk if not out else " " + chunk)
    return out


def ymd(d):
    return d.strftime("%Y%m%d")


def stamp(t):
    return t.strftime("%Y%m%dT%H%M%S")


def airbnb(start, rng, count=10_000):
    lines = [
        "BEGIN:VCALENDAR",
        "PRODID;X-RICAL-TZSOURCE=TZINFO:-//Airbnb Inc//Hosting Calendar 0.8.8//EN",
        "CALSCALE:GREGORIAN",
        "VERSION:2.0",
    ]
    alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
    for i in range(count):
        day = start + dt.timedelta(days=i * 540 // count)
        end = day + dt.timedelta(days=rng.randint(1, 6))
        uid_hex = "%032x" % rng.getrandbits(128)
        lines.append("BEGIN:VEVENT")
        lines.append("DTEND;VALUE=DATE:" + ymd(end))
        lines.append("DTSTART;VALUE=DATE:" + ymd(day))
        lines.append("UID:1418fb94e984-%s@airbnb.com" % uid_hex)
        if i % 2 == 0:
            code = "HM" + "".join(rng.choice(alphabet) for _ in range(8))
            phone = "%04d" % rng.randint(0, 9999)
            lines.extend(
                fold(
                    "DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/"
                    "details/%s\\nPhone Number (Last 4 Digits): %s" % (code, phone)
                )
            )
            lines.append("SUMMARY:Reserved")
        else:
            lines.append("SUMMARY:Airbnb (Not available)")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "\n".join(lines) + "\n"


VTIMEZONES = """BEGIN:VTIMEZONE
TZID:Europe/Berlin
X-LIC-LOCATION:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE
BEGIN:VTIMEZONE
TZID:America/New_York
X-LIC-LOCATION:America/New_York
BEGIN:DAYLIGHT
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
TZNAME:EDT
DTSTART:19700308T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
TZNAME:EST
DTSTART:19701101T020000
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
END:STANDARD
END:VTIMEZONE"""


def google(start, rng):
    lines = [
        "BEGIN:VCALENDAR",
        "PRODID:-//Google Inc//Google Calendar 70.9054//EN",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:Bench",
        "X-WR-TIMEZONE:Europe/Berlin",
    ]
    lines.extend(VTIMEZONES.split("\n"))
    created = "20200101T000000Z"
    words = ["Standup", "Review", "Lunch", "1:1", "Planning", "Dentist", "Call", "Workshop"]
    total, i = 0, 0
    while total < 1_000:
        i += 1
        tzid = "Europe/Berlin" if i % 3 else "America/New_York"
        first = dt.datetime.combine(start, dt.time(0, 0)) + dt.timedelta(
            days=rng.randint(-90, 365), hours=rng.randint(7, 18), minutes=rng.choice([0, 15, 30, 45])
        )
        length = dt.timedelta(minutes=rng.choice([15, 30, 45, 60, 90, 120]))
        uid = "%026x@google.com" % rng.getrandbits(104)
        summary = "%s %d" % (rng.choice(words), i)
        recurring = i % 5 == 0
        event = [
            "BEGIN:VEVENT",
            "DTSTART;TZID=%s:%s" % (tzid, stamp(first)),
            "DTEND;TZID=%s:%s" % (tzid, stamp(first + length)),
        ]
        step = None
        last = 0  # the last step of the series (overrides stay within it)
        excluded = set()
        if recurring:
            if rng.random() < 0.5:
                step = dt.timedelta(weeks=1)
                rule = "RRULE:FREQ=WEEKLY;BYDAY=%s" % ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][first.weekday()]
            else:
                step = dt.timedelta(days=1)
                rule = "RRULE:FREQ=DAILY"
            end_kind = rng.random()
            if end_kind < 0.3:
                count = rng.randint(5, 60)
                rule += ";COUNT=%d" % count
                last = count - 1
            elif end_kind < 0.6:
                last = rng.randint(5, 80)
                until = first + step * last
                rule += ";UNTIL=%sZ" % stamp(until)
            else:
                last = 80
            event.append(rule)
            excluded = set(rng.sample(range(1, 20), 3))
            for k in sorted(excluded):
                event.append("EXDATE;TZID=%s:%s" % (tzid, stamp(first + step * k)))
        event += [
            "DTSTAMP:20240101T000000Z",
            "UID:" + uid,
            "CREATED:" + created,
            "DESCRIPTION:",
            "LAST-MODIFIED:20240101T000000Z",
            "LOCATION:",
            "SEQUENCE:0",
            "STATUS:CONFIRMED",
            "SUMMARY:" + summary,
            "TRANSP:OPAQUE",
            "END:VEVENT",
        ]
        lines.extend(event)
        total += 1
        candidates = [k for k in range(1, last + 1) if k not in excluded]
        if recurring and len(candidates) >= 2 and rng.random() < 0.3 and total + 2 <= 1_000:
            total += 2
            # Two overrides of occurrences of the series: one moved by two hours, one cancelled.
            for k, cancelled in zip(sorted(rng.sample(candidates, 2)), (False, True)):
                original = first + step * k
                moved = original + dt.timedelta(hours=2)
                lines += [
                    "BEGIN:VEVENT",
                    "DTSTART;TZID=%s:%s" % (tzid, stamp(moved)),
                    "DTEND;TZID=%s:%s" % (tzid, stamp(moved + length)),
                    "DTSTAMP:20240101T000000Z",
                    "UID:" + uid,
                    "RECURRENCE-ID;TZID=%s:%s" % (tzid, stamp(original)),
                    "SEQUENCE:1",
                    "STATUS:%s" % ("CANCELLED" if cancelled else "CONFIRMED"),
                    "SUMMARY:" + summary + (" (moved)" if not cancelled else ""),
                    "TRANSP:OPAQUE",
                    "END:VEVENT",
                ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        sys.exit(__doc__)
    out = args[0]
    start = dt.date.today()
    if "--start" in args:
        start = dt.date.fromisoformat(args[args.index("--start") + 1])
    os.makedirs(out, exist_ok=True)
    rng = random.Random(20240601)
    with open(os.path.join(out, "airbnb_10000.ics"), "w", encoding="utf-8", newline="") as f:
        f.write(airbnb(start, rng))
    with open(os.path.join(out, "google_1000.ics"), "w", encoding="utf-8", newline="") as f:
        f.write(google(start, rng))
    # Its own seed, so that the two files above stay what they were before it existed.
    with open(os.path.join(out, "airbnb_100000.ics"), "w", encoding="utf-8", newline="") as f:
        f.write(airbnb(start, random.Random(20261122), 100_000))
    print("wrote airbnb_10000.ics, google_1000.ics and airbnb_100000.ics in %s" % out)


if __name__ == "__main__":
    main()
