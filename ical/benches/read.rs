//! The reader on an Airbnb-style export of 10,000 and of 100,000 events: `cargo bench -p
//! kalends-ical --bench read`.
//!
//! The feed is generated here, deterministically, in the shape `benches/peers/gen_feeds.py`
//! gives the whole-process benchmark (`scripts/bench-ics`): all-day events as Airbnb's exporter
//! writes them (DTEND before DTSTART, `VALUE=DATE`, no DTSTAMP, LF line ends), alternating
//! "Reserved" with a folded DESCRIPTION linking the reservation and "Airbnb (Not available)",
//! spread over the 540 days after "now" so that every one is in the default window.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kalends_ical::{ParseOptions, Producer};

/// "Now" of every run: the feed starts the next day.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_348_800, 0).unwrap() // 2026-11-22T12:00:00Z
}

/// SplitMix64: the same numbers on every machine, without a dependency for them.
struct Numbers(u64);

impl Numbers {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn ymd(day: NaiveDate) -> impl std::fmt::Display {
    day.format("%Y%m%d")
}

/// One event: a reservation (even `i`) or a block.
fn event(out: &mut String, i: usize, count: usize, start: NaiveDate, numbers: &mut Numbers) {
    const CODE: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let offset = i64::try_from(i * 540 / count).unwrap();
    let day = start + TimeDelta::days(offset);
    let end = day + TimeDelta::days(1 + i64::try_from(numbers.below(6)).unwrap());
    let (hi, lo) = (numbers.next(), numbers.next());
    let _ = write!(
        out,
        "BEGIN:VEVENT\nDTEND;VALUE=DATE:{}\nDTSTART;VALUE=DATE:{}\n\
         UID:1418fb94e984-{hi:016x}{lo:016x}@airbnb.com\n",
        ymd(end),
        ymd(day)
    );
    if i % 2 == 1 {
        out.push_str("SUMMARY:Airbnb (Not available)\nEND:VEVENT\n");
        return;
    }
    let code: String =
        (0..8).map(|_| char::from(CODE[numbers.below(CODE.len() as u64) as usize])).collect();
    // Folded at 75 octets, as the exporter folds it.
    let _ = write!(
        out,
        "DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/de\n \
         tails/HM{code}\\nPhone Number (Last 4 Digits): {:04}\nSUMMARY:Reserved\nEND:VEVENT\n",
        numbers.below(10_000)
    );
}

/// An Airbnb export of `count` events.
fn airbnb(count: usize) -> Vec<u8> {
    let mut out = String::with_capacity(260 * count);
    out.push_str(
        "BEGIN:VCALENDAR\nPRODID;X-RICAL-TZSOURCE=TZINFO:-//Airbnb Inc//Hosting Calendar 0.8.8//EN\n\
         CALSCALE:GREGORIAN\nVERSION:2.0\n",
    );
    let start = now().date_naive() + TimeDelta::days(1);
    let mut numbers = Numbers(20_261_122);
    for i in 0..count {
        event(&mut out, i, count, start, &mut numbers);
    }
    out.push_str("END:VCALENDAR\n");
    out.into_bytes()
}

fn read(c: &mut Criterion) {
    let mut group = c.benchmark_group("read");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    let options = ParseOptions::new(Producer::Airbnb, chrono_tz::Europe::Paris, now());
    for count in [10_000, 100_000] {
        let feed = airbnb(count);
        // The feed must read whole, or the benchmark measures something else.
        let read = kalends_ical::read(&feed, &options).unwrap();
        assert_eq!((read.events, read.busy.len(), read.skipped.len()), (count, count, 0));
        group.throughput(Throughput::Elements(count as u64));
        group.bench_with_input(BenchmarkId::new("airbnb", count), &feed, |b, feed| {
            b.iter(|| kalends_ical::read(black_box(feed), &options))
        });
    }
    group.finish();
}

criterion_group!(benches, read);
criterion_main!(benches);
