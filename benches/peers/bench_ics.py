#!/usr/bin/env python3
"""`kalends ics check` against its peers, Python icalendar and ical.js (BENCHMARKS.md).

Usage (scripts/bench-ics runs it, with the peers scripts/test installs):
  bench_ics.py --kalends BIN --python VENV_PYTHON --node-path NODE_MODULES [--runs 5] FILE...

Standard library only. For each FILE, RUNS rounds; each round runs the three tools one after the other
(interleaved, so a slow moment of the machine hits all three):
  kalends ics check FILE --json --from D1 --to D2 [--platform airbnb] > /dev/null
  VENV_PYTHON benches/peers/python_icalendar.py FILE > /dev/null
  node benches/peers/icaljs.mjs FILE > /dev/null
Each is timed as a whole process: wall time from spawn to exit, and peak RSS from /usr/bin/time -v.

The window: the peers expand over [start of yesterday UTC, now + 18 months). `ics check` takes dates,
so it gets --from yesterday --to the date of now + 18 months (the peers' end, cut to midnight). The
feeds of gen_feeds.py start their timed events at 07:00 local, so before 05:00 UTC nothing falls
in the few hours that differ; the occurrence counts are checked anyway (an untimed run of each).

A first row, "startup", runs each tool on an empty VCALENDAR: the cost of starting the process
(and, for the peers, their interpreter and library), the baseline under the figures.
"""

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def window():
    """The peers' window, as dates: yesterday (UTC) and the day of now + 18 months."""
    now = dt.datetime.now(dt.timezone.utc)
    start = now.date() - dt.timedelta(days=1)
    month = now.month - 1 + 18
    year, month = now.year + month // 12, month % 12 + 1
    day = now.day
    while True:
        try:
            end = dt.date(year, month, day)
            break
        except ValueError:
            day -= 1
    return start, end


def commands(args, path, start, end):
    platform = ["--platform", "airbnb"] if "airbnb" in os.path.basename(path) else []
    kalends = [args.kalends, "ics", "check", path, "--json", "--from", str(start), "--to", str(end)]
    tools = [("kalends ics check", kalends + platform)]
    # Python takes 15 s on the 23 MB file: left out of files over --python-max-mb.
    if os.path.getsize(path) <= args.python_max_mb * 1e6:
        tools.append(("Python icalendar 7", [args.python, os.path.join(HERE, "python_icalendar.py"), path]))
    tools.append(("ical.js 2 (Node)", ["node", os.path.join(HERE, "icaljs.mjs"), path]))
    return tools


def timed(cmd, env):
    """Wall seconds and peak RSS (KiB) of one run, output discarded. The peak RSS comes from
    /usr/bin/time -v: a process forked from this script would start with this script's own peak
    (wait4 counts the memory of the fork before the exec), so the tool is started by `time`."""
    with open(os.devnull, "wb") as null, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        started = time.perf_counter()
        proc = subprocess.Popen(["/usr/bin/time", "-v", "-o", report.name] + cmd, stdout=null,
                                stderr=err, env=env)
        code = proc.wait()
        elapsed = time.perf_counter() - started
        if code != 0:
            err.seek(0)
            sys.exit("failed (%d): %s\n%s" % (code, " ".join(cmd), err.read().decode(errors="replace")))
        rss = [l for l in report.read().splitlines() if "Maximum resident set size" in l]
    return elapsed, int(rss[0].split(":")[1])


def count(name, cmd, env):
    """The occurrence count the tool reports (kalends: the length of `busy`). Kalends' JSON is
    counted by a child process, so that this script never holds 100,000 items (see timed)."""
    if name.startswith("kalends"):
        counter = ("import json, sys; d = json.load(sys.stdin); "
                   "print(len(d['busy']), d['events'], len(d['skipped']))")
        tool = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env)
        out = subprocess.run([sys.executable, "-c", counter], stdin=tool.stdout, capture_output=True,
                             check=True).stdout
        tool.stdout.close()
        if tool.wait() != 0:
            sys.exit("failed: " + " ".join(cmd))
        busy, events, skipped = (int(x) for x in out.split())
        return busy, "%d VEVENTs, %d skipped" % (events, skipped)
    out = subprocess.run(cmd, capture_output=True, check=True, env=env).stdout
    return int(out.strip().splitlines()[-1]), ""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kalends", required=True)
    p.add_argument("--python", required=True)
    p.add_argument("--node-path", required=True)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--python-max-mb", type=float, default=5.0)
    p.add_argument("files", nargs="+")
    args = p.parse_args()
    # The 100,000-event file (23 MB) is over the 10 MiB an import reads by default, which
    # `ics check` holds files to as well: the benchmark raises the limit.
    env = dict(os.environ, NODE_PATH=args.node_path, KALENDS_IMPORT__MAX_BYTES="1073741824")
    start, end = window()
    print("window: --from %s --to %s (peers: start of %s UTC to now + 18 months)" % (start, end, start), flush=True)

    empty = tempfile.NamedTemporaryFile("w", suffix=".ics", delete=False)
    empty.write("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nEND:VCALENDAR\r\n")
    empty.close()

    rows = []
    for path, label in [(empty.name, "startup (empty calendar)")] + [(f, os.path.basename(f)) for f in args.files]:
        cmds = commands(args, path, start, end)
        counts = {name: count(name, cmd, env) for name, cmd in cmds}
        samples = {name: [] for name, _ in cmds}
        for _ in range(args.runs):
            for name, cmd in cmds:
                samples[name].append(timed(cmd, env))
        size = os.path.getsize(path)
        agree = len({c for c, _ in counts.values()}) == 1
        for name, _ in cmds:
            wall = [s[0] for s in samples[name]]
            rss = [s[1] for s in samples[name]]
            rows.append((label, size, name, statistics.median(wall), min(wall), max(wall),
                         (statistics.median(rss) / 1024, min(rss) / 1024, max(rss) / 1024),
                         counts[name], agree))
            print("  %-26s %-20s runs (s): %s; peak RSS (MiB): %s; occurrences: %d %s" % (
                label, name, " ".join("%.3f" % w for w in wall),
                " ".join("%.1f" % (r / 1024) for r in rss), counts[name][0], counts[name][1]),
                file=sys.stderr)
    os.unlink(empty.name)

    print()
    print("| file | tool | wall median (min-max) | peak RSS median (min-max) | occurrences in window | kalends is faster by |")
    print("|---|---|---|---|---|---|")
    base = {}
    for label, size, name, wall, lo, hi, rss, (occ, note), agree in rows:
        if name.startswith("kalends"):
            base[label] = wall
        ratio = "" if name.startswith("kalends") else "**%.1fx**" % (wall / base[label])
        shown = "%s (%.1f MB)" % (label, size / 1e6) if size > 1000 else label
        flag = "" if agree else " (DISAGREE)"
        print("| %s | %s | %.0f ms (%.0f-%.0f) | %.1f MiB (%.1f-%.1f) | %d%s | %s |" % (
            shown, name, wall * 1000, lo * 1000, hi * 1000, rss[0], rss[1], rss[2], occ, flag, ratio))
    if not all(r[-1] for r in rows):
        print("\nwarning: the tools disagree on the occurrence count", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
