#!/usr/bin/env node
// Reads an iCalendar file with ical.js 2.x and prints its events as JSON.
//
//     node validate_ics.mjs FILE
//
// Prints the same JSON as validate_ics.py:
//
//     {"events": [{"uid", "summary", "status", "start", "end", "all_day"}, ...]}
//
// `start` and `end`: `2025-03-01` for whole days, `2025-03-01T09:00:00+00:00` (UTC) for times.
// ical.js has no zone database: times with a TZID are converted with the file's own VTIMEZONE,
// so a wrong VTIMEZONE shows as a wrong time.
//
// Exits non-zero, with the reason on stderr, on anything ical.js cannot parse, a line not ended by
// CRLF, a bare CR or LF, a line longer than 75 octets, invalid UTF-8, a root that is not one
// VCALENDAR, a TZID without its VTIMEZONE, a floating time, or an event without UID or DTSTART.
//
// ical.js is found as `import "ical.js"` would find it, else in the node_modules directories named
// by KALENDS_TEST_NODE_PATH or NODE_PATH (ES modules ignore NODE_PATH, hence the search here).

import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

async function loadIcal() {
  try {
    return (await import("ical.js")).default;
  } catch (error) {
    if (error.code !== "ERR_MODULE_NOT_FOUND") throw error;
  }
  const dirs = [process.env.KALENDS_TEST_NODE_PATH, process.env.NODE_PATH]
    .filter(Boolean)
    .flatMap((list) => list.split(path.delimiter))
    .filter(Boolean);
  for (const dir of dirs) {
    const manifest = path.join(dir, "ical.js", "package.json");
    if (!existsSync(manifest)) continue;
    const meta = JSON.parse(readFileSync(manifest, "utf8"));
    const entry = meta.exports?.import ?? meta.module ?? meta.main;
    return (await import(pathToFileURL(path.join(dir, "ical.js", entry)).href)).default;
  }
  throw new Error("ical.js not found: npm install ical.js@2, and set KALENDS_TEST_NODE_PATH to its node_modules");
}

class Invalid extends Error {
  name = "Invalid";
}

function checkLines(bytes) {
  const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  if (!text.endsWith("\r\n")) throw new Invalid("the last line does not end with CRLF");
  text
    .slice(0, -2)
    .split("\r\n")
    .forEach((line, i) => {
      if (/[\r\n]/.test(line)) throw new Invalid(`line ${i + 1}: bare CR or LF`);
      const octets = Buffer.byteLength(line, "utf8");
      if (octets > 75) throw new Invalid(`line ${i + 1}: ${octets} octets (at most 75)`);
    });
  return text;
}

const pad = (n, width = 2) => String(n).padStart(width, "0");

function moment(ICAL, vevent, name) {
  const prop = vevent.getFirstProperty(name);
  if (!prop) return [null, false];
  const time = prop.getFirstValue();
  const date = `${pad(time.year, 4)}-${pad(time.month)}-${pad(time.day)}`;
  if (time.isDate) return [date, true];
  const tzid = prop.getParameter("tzid");
  if (tzid) {
    if (!time.zone || time.zone.tzid !== tzid) throw new Invalid(`${name};TZID=${tzid} has no VTIMEZONE`);
  } else if (!time.zone || time.zone.tzid !== "UTC") {
    throw new Invalid(`${name}: floating time ${time.toString()}`);
  }
  const utc = time.convertToZone(ICAL.Timezone.utcTimezone);
  const clock = `${pad(utc.hour)}:${pad(utc.minute)}:${pad(utc.second)}`;
  return [`${pad(utc.year, 4)}-${pad(utc.month)}-${pad(utc.day)}T${clock}+00:00`, false];
}

function eventJson(ICAL, vevent) {
  for (const name of ["uid", "dtstart"]) {
    if (!vevent.hasProperty(name)) throw new Invalid(`VEVENT without ${name.toUpperCase()}`);
  }
  const [start, allDay] = moment(ICAL, vevent, "dtstart");
  const [end] = moment(ICAL, vevent, "dtend");
  const text = (name) => vevent.getFirstPropertyValue(name) ?? null;
  return {
    uid: String(text("uid")),
    summary: text("summary"),
    status: text("status"),
    start,
    end,
    all_day: allDay,
  };
}

async function main() {
  if (process.argv.length !== 3) {
    console.error("usage: validate_ics.mjs FILE");
    return 2;
  }
  try {
    const ICAL = await loadIcal();
    const text = checkLines(readFileSync(process.argv[2]));
    const jcal = ICAL.parse(text);
    if (!Array.isArray(jcal) || jcal[0] !== "vcalendar") throw new Invalid("the root is not one VCALENDAR");
    const root = new ICAL.Component(jcal);
    for (const vtimezone of root.getAllSubcomponents("vtimezone")) {
      ICAL.TimezoneService.register(vtimezone);
    }
    const events = root.getAllSubcomponents("vevent").map((vevent) => eventJson(ICAL, vevent));
    console.log(JSON.stringify({ events }));
    return 0;
  } catch (error) {
    console.error(`validate_ics.mjs: ${error.name}: ${error.message}`);
    return 1;
  }
}

process.exitCode = await main();
