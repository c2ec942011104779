#!/usr/bin/env python3
"""Feed serving benchmark: `GET /ical/{token}.ics` of a real `kalends serve` (BENCHMARKS.md).

Usage (scripts/bench-feeds runs it on SQLite and on PostgreSQL):
  feed_bench.py --database-url URL [--label TEXT] [--bin target/release/kalends] [--bookings 10000]
                [--gets 30] [--wrk-runs 3] [--wrk-seconds 10]

Standard library only (plus `wrk` and `curl` on PATH). Steps:
 1. `kalends tenant create`, then `kalends serve` on a free port with a fresh data dir.
 2. A resource (Europe/Berlin) and BOOKINGS bookings on it through the API (deterministic, seed 3):
    70% all-day stays of 1-7 nights, 30% timed (30 min to 3 h), starting over the next 3 years;
    60% with a customer; 2% cancelled, 3% tentative. Then one `busy` and one `details` feed.
 3. Waits until the server's CPU time stops growing (the outbox jobs and conflict detection that
    follow each booking are done), restarts the server on the same database (so the RSS figures are
    those of a process that only served feeds), and waits for it to be idle.
 4. RSS before: VmRSS of the idle server. One uncounted GET of each (logged: the feeds' first,
    uncached render after the restart). Then GETS rounds, each a full GET of the busy feed, of the
    details feed and of /healthz (the baseline), each on its own keep-alive connection; the time is
    from sending the request to the body's last byte. Peak: VmHWM after the GETs (and after wrk).
 5. One curl with If-None-Match must answer 304; then `wrk -t2 -c32 -dWRK_SECONDS` alternating
    between /healthz and the busy feed with If-None-Match, WRK_RUNS times each; medians of req/s.
The per-feed rate limit (feeds.rate_limit_per_minute, where the build has one) is raised for the
run, so that wrk measures revalidations and not 429s; any non-2xx/3xx answer fails the run.

Prints one Markdown row per feed to stdout, details to stderr.
"""

import argparse
import datetime as dt
import http.client
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid):
    """VmRSS and VmHWM of a process, MiB."""
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12])  # utime + stime


def wait_idle(pid, quiet_seconds=3, limit=600):
    """Waits until the process used under 2 % of a core for QUIET_SECONDS in a row."""
    hz = os.sysconf("SC_CLK_TCK")
    started, quiet, last = time.monotonic(), 0, cpu_ticks(pid)
    while quiet < quiet_seconds and time.monotonic() - started < limit:
        time.sleep(1)
        now = cpu_ticks(pid)
        quiet = quiet + 1 if (now - last) / hz < 0.02 else 0
        last = now
    return time.monotonic() - started


class Client:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, port, key=None):
        self.port, self.key = port, key
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.key:
            headers["Authorization"] = "Bearer " + self.key
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                return resp.status, resp, resp.read()
            except (http.client.HTTPException, ConnectionError):
                if attempt:
                    raise
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def json(self, method, path, body=None):
        status, _, data = self.request(method, path, body)
        if status >= 300:
            sys.exit("%s %s: %d %s" % (method, path, status, data[:500]))
        return json.loads(data)

    def timed_get(self, path):
        """Milliseconds from sending the request to the last byte, the response and the body."""
        started = time.perf_counter()
        status, resp, body = self.request("GET", path)
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200:
            sys.exit("GET %s: %d %s" % (path, status, body[:200]))
        return elapsed, resp, body


class Server:
    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="kalends-feed-bench-")
        self.port = free_port()
        self.proc = None
        self.env = dict(
            os.environ,
            KALENDS_DATABASE_URL=args.database_url.replace("{dir}", self.dir),
            KALENDS_LISTEN="127.0.0.1:%d" % self.port,
            KALENDS_PUBLIC_URL="http://127.0.0.1:%d" % self.port,
            KALENDS_DEMO_TENANT="false",
            KALENDS_LOG="warn",
            KALENDS_CONFIG_DIR=os.path.join(ROOT, "config"),
            KALENDS_DATA_DIR=os.path.join(self.dir, "data"),
            KALENDS_FEEDS__RATE_LIMIT_PER_MINUTE="1000000000",
        )

    def cli(self, *argv):
        out = subprocess.run([self.args.bin, *argv], env=self.env, capture_output=True, cwd=self.dir)
        if out.returncode:
            sys.exit("kalends %s: %s" % (" ".join(argv), out.stderr.decode()))
        return out.stdout

    def start(self):
        self.log = open(os.path.join(self.dir, "server.log"), "ab")
        self.proc = subprocess.Popen([self.args.bin, "serve"], env=self.env, cwd=self.dir,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log)
        for _ in range(300):
            try:
                if Client(self.port).request("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        sys.exit("the server did not become ready; see %s/server.log" % self.dir)

    def stop(self):
        self.proc.terminate()
        code = self.proc.wait(timeout=60)
        self.log.close()
        return code

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def bookings(resource_id, count):
    rng = random.Random(3)
    first = dt.date.today() + dt.timedelta(days=1)
    for i in range(count):
        day = first + dt.timedelta(days=rng.randrange(3 * 365))
        body = {"title": "Booking %d" % i, "resource_id": resource_id}
        if rng.random() < 0.7:
            body["start_date"] = day.isoformat()
            body["end_date"] = (day + dt.timedelta(days=rng.randint(1, 7))).isoformat()
        else:
            start = dt.datetime.combine(day, dt.time(rng.randint(6, 17), rng.choice([0, 15, 30, 45])))
            end = start + dt.timedelta(minutes=rng.choice([30, 60, 90, 120, 180]))
            body["start"], body["end"] = start.strftime("%Y-%m-%dT%H:%M:00Z"), end.strftime("%Y-%m-%dT%H:%M:00Z")
            body["time_zone"] = "Europe/Berlin"
        if rng.random() < 0.6:
            body["customer"] = {"name": "Guest %d" % i, "email": "guest%d@example.com" % i}
        if rng.random() < 0.3:
            body["description"] = "Arrival around %d:00, %d guests" % (rng.randint(12, 22), rng.randint(1, 6))
        roll = rng.random()
        if roll < 0.02:
            body["status"] = "cancelled"
        elif roll < 0.05:
            body["status"] = "tentative"
        yield body


def ingest(port, key, count):
    c = Client(port, key)
    resource = c.json("POST", "/api/v1/resources", {"name": "Villa", "time_zone": "Europe/Berlin"})
    todo = list(bookings(resource["id"], count))
    lock = threading.Lock()
    failures = []

    def worker():
        client = Client(port, key)
        while not failures:
            with lock:
                if not todo:
                    return
                body = todo.pop()
            try:
                client.json("POST", "/api/v1/bookings", body)
            except BaseException as e:  # sys.exit in a thread ends only that thread: hand it to main
                failures.append(e)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if failures:
        sys.exit("creating the bookings failed (%d left undone): %s" % (len(todo), failures[0]))
    feeds = {}
    for profile in ("busy", "details"):
        feed = c.json("POST", "/api/v1/feeds",
                      {"scope": "resource", "scope_id": resource["id"], "profile": profile, "name": "Villa " + profile})
        feeds[profile] = urllib.parse.urlparse(feed["url"]).path
    return feeds, elapsed


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def wrk(url, seconds, etag=None):
    cmd = ["wrk", "-t2", "-c32", "-d%ds" % seconds, "--latency"]
    if etag:
        cmd += ["-H", "If-None-Match: " + etag]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx or 3xx" in out or "Socket errors" in out:
        sys.exit("wrk saw errors:\n" + out)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1, "s": 1000}[p50.group(2)]
    return rate, float(p50.group(1)) * scale


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--database-url", required=True, help="sqlite://{dir}/kalends.db puts it in the run's temp dir")
    p.add_argument("--label", default="")
    p.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "kalends"))
    p.add_argument("--bookings", type=int, default=10_000)
    p.add_argument("--gets", type=int, default=30)
    p.add_argument("--wrk-runs", type=int, default=3)
    p.add_argument("--wrk-seconds", type=int, default=10)
    args = p.parse_args()
    label = args.label or args.database_url.split(":")[0]

    server = Server(args)
    try:
        created = json.loads(server.cli("tenant", "create", "--name", "Bench", "--json"))
        server.start()
        feeds, elapsed = ingest(server.port, created["api_key"], args.bookings)
        log("%s: %d bookings created in %.1f s (%.0f/s)" % (label, args.bookings, elapsed, args.bookings / elapsed))
        waited = wait_idle(server.proc.pid)
        log("%s: background work done %.1f s later; restarting the server" % (label, waited))
        server.stop()
        server.start()
        wait_idle(server.proc.pid)
        pid = server.proc.pid
        rss_before, _ = proc_status(pid)

        names = ["busy", "details", "healthz"]
        paths = {"busy": feeds["busy"], "details": feeds["details"], "healthz": "/healthz"}
        clients = {n: Client(server.port) for n in names}
        times = {n: [] for n in names}
        info = {}
        for n in names:  # warm-up: one GET each, not counted (it also opens the connections)
            first, resp, body = clients[n].timed_get(paths[n])
            info[n] = (resp.getheader("ETag"), len(body), body.count(b"BEGIN:VEVENT"), body.rstrip().endswith(b"END:VCALENDAR"))
            log("%s: first GET %s after the restart (nothing cached, connection included): %.1f ms" % (label, n, first))
        for _ in range(args.gets):
            for n in names:
                elapsed, resp, body = clients[n].timed_get(paths[n])
                if n != "healthz" and len(body) != info[n][1]:
                    sys.exit("the %s feed changed size between GETs" % n)
                times[n].append(elapsed)
        _, peak_gets = proc_status(pid)
        for n in names:
            log("%s: GET %s ms: %s" % (label, n, " ".join("%.1f" % t for t in times[n])))

        base = "http://127.0.0.1:%d" % server.port
        etag = info["busy"][0]
        code = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "If-None-Match: " + etag,
                               base + feeds["busy"]], capture_output=True, text=True).stdout
        log("%s: curl with If-None-Match %s answers %s" % (label, etag, code))
        if code != "304":
            sys.exit("the conditional GET answered %s, not 304" % code)
        health, revalidate = [], []
        for _ in range(args.wrk_runs):
            health.append(wrk(base + "/healthz", args.wrk_seconds))
            revalidate.append(wrk(base + feeds["busy"], args.wrk_seconds, etag))
            log("%s: wrk /healthz %.0f req/s (p50 %.2f ms), 304 %.0f req/s (p50 %.2f ms)"
                % (label, *health[-1], *revalidate[-1]))
        _, peak = proc_status(pid)
        code = server.stop()

        h_rate = statistics.median(r for r, _ in health)
        v_rate = statistics.median(r for r, _ in revalidate)
        h_p50 = statistics.median(l for _, l in health)
        v_p50 = statistics.median(l for _, l in revalidate)
        hz = statistics.median(times["healthz"])
        for n in ("busy", "details"):
            etag_, size, events, whole = info[n]
            print("| %s | `%s` | %d | %.2f MB%s | **%.1f** / %.1f ms | %.2f ms | %.1f / %.1f MiB | %s |" % (
                label, n, events, size / 1e6, "" if whole else " (TRUNCATED)",
                statistics.median(times[n]), percentile(times[n], 90), hz, rss_before, peak_gets,
                ("%.0f req/s (p50 %.2f ms) vs %.0f req/s (p50 %.2f ms): **%.2f**; peak RSS %.1f MiB, SIGTERM exit %d"
                 % (v_rate, v_p50, h_rate, h_p50, v_rate / h_rate, peak, code)) if n == "busy" else ""))
    finally:
        if server.proc and server.proc.poll() is None:
            server.proc.kill()
        server.cleanup()


if __name__ == "__main__":
    main()
