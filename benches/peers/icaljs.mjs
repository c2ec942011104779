#!/usr/bin/env node
// Peer for `kalends ics check FILE`: the same read with ical.js 2.x.
//
// Parses FILE with ical.js, registers its VTIMEZONEs, relates RECURRENCE-ID overrides to their
// series (grouped by UID up front: letting ICAL.Event scan the calendar for them is quadratic),
// expands every series with ICAL.RecurExpansion over the default window of `kalends ics check`
// (from the start of yesterday, UTC, to 18 months from now), and prints the number of
// occurrences overlapping the window. Cancelled overrides are dropped, like kalends does.
//
// Run it with ical.js installed in a throw-away directory, nothing is installed globally:
//
//     mkdir -p /tmp/peers-node && (cd /tmp/peers-node && npm install ical.js@2)
//     NODE_PATH=/tmp/peers-node/node_modules node benches/peers/icaljs.mjs /tmp/feeds/airbnb_10000.ics
//
// (NODE_PATH does not apply to ES module imports, so the script resolves `ical.js` itself from
// NODE_PATH or from the current directory's node_modules.)
//
// Time it as a whole process, like the CLI, e.g. with `hyperfine` or `/usr/bin/time`.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

async function loadIcal() {
  const bases = [...(process.env.NODE_PATH || '').split(path.delimiter).filter(Boolean),
    path.join(process.cwd(), 'node_modules')];
  for (const base of bases) {
    const pkgFile = path.join(base, 'ical.js', 'package.json');
    if (!existsSync(pkgFile)) continue;
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
    const entry = path.join(base, 'ical.js', pkg.exports?.import ?? pkg.main);
    return (await import(pathToFileURL(entry).href)).default;
  }
  return (await import('ical.js')).default;
}

function windowBounds() {
  const now = new Date();
  const start = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - 1);
  const end = new Date(now);
  const day = end.getUTCDate();
  end.setUTCDate(1);
  end.setUTCMonth(end.getUTCMonth() + 18);
  const last = new Date(Date.UTC(end.getUTCFullYear(), end.getUTCMonth() + 1, 0)).getUTCDate();
  end.setUTCDate(Math.min(day, last));
  return [start, end.getTime()];
}

const MAX_STEPS = 100000;

async function main() {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: icaljs.mjs FILE');
    process.exit(2);
  }
  const ICAL = await loadIcal();
  const calendar = new ICAL.Component(ICAL.parse(readFileSync(file, 'utf8')));
  for (const vtz of calendar.getAllSubcomponents('vtimezone')) {
    ICAL.TimezoneService.register(vtz);
  }
  const [from, to] = windowBounds();

  const masters = [];
  const overrides = new Map();
  for (const vevent of calendar.getAllSubcomponents('vevent')) {
    if (vevent.hasProperty('recurrence-id')) {
      const uid = vevent.getFirstPropertyValue('uid');
      if (!overrides.has(uid)) overrides.set(uid, []);
      overrides.get(uid).push(vevent);
    } else {
      masters.push(vevent);
    }
  }

  let count = 0;
  const overlaps = (start, end) => {
    const s = start.toJSDate().getTime();
    const e = end ? end.toJSDate().getTime() : s;
    return s === e ? s >= from && s < to : s < to && e > from;
  };
  for (const vevent of masters) {
    if (!vevent.getFirstPropertyValue('dtstart')) continue;
    const uid = vevent.getFirstPropertyValue('uid');
    const event = new ICAL.Event(vevent, { exceptions: overrides.get(uid) || [] });
    if (!event.isRecurring()) {
      if (overlaps(event.startDate, event.endDate)) count++;
      continue;
    }
    const expansion = new ICAL.RecurExpansion({ component: vevent, dtstart: event.startDate });
    for (let step = 0; step < MAX_STEPS; step++) {
      let next;
      try {
        next = expansion.next();
      } catch {
        break;
      }
      if (!next || next.toJSDate().getTime() >= to) break;
      const details = event.getOccurrenceDetails(next);
      if (details.item && details.item.component.getFirstPropertyValue('status') === 'CANCELLED') {
        continue;
      }
      if (overlaps(details.startDate, details.endDate)) count++;
    }
  }
  console.log(count);
}

main();
