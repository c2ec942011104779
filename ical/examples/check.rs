//! Reads an `.ics` file as an import would and prints what it holds, as JSON: the busy
//! occurrences from yesterday to 18 months ahead, and every event not imported with the reason.
//!
//! `cargo run -p kalends-ical --example check -- FILE [airbnb|vrbo|booking_com|google|outlook|other]`

use std::io::Write as _;
use std::process::ExitCode;

use kalends_ical::{ParseOptions, Producer};

/// The bytes of JSON written at a time: the 25 MB of 100 000 events in some 400 writes rather
/// than the 3 000 of the default 8 KiB.
const OUT_BUFFER: usize = 64 * 1024;

fn producer(name: &str) -> Option<Producer> {
    Some(match name {
        "airbnb" => Producer::Airbnb,
        "vrbo" => Producer::Vrbo,
        "booking_com" => Producer::BookingCom,
        "google" => Producer::Google,
        "outlook" => Producer::Outlook,
        "other" => Producer::Other,
        _ => return None,
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(path), Some(producer)) =
        (args.first(), producer(args.get(1).map_or("other", String::as_str)))
    else {
        eprintln!("usage: check FILE [airbnb|vrbo|booking_com|google|outlook|other]");
        return ExitCode::from(2);
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Floating times without an `X-WR-TIMEZONE` are read in UTC.
    let options = ParseOptions::new(producer, chrono_tz::UTC, chrono::Utc::now());
    match kalends_ical::read_from(file, &options) {
        Ok(feed) => {
            // Streamed, as `kalends ics check` writes it: the JSON of 100 000 events is some
            // 25 MB, which a string would hold whole on top of the feed.
            let mut out = std::io::BufWriter::with_capacity(OUT_BUFFER, std::io::stdout().lock());
            let written = serde_json::to_writer_pretty(&mut out, &feed)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
                .and_then(|()| out.flush());
            // The process ends here: handing 100 000 items' strings back to the allocator one
            // by one would cost more than the exit that frees them all at once.
            std::mem::forget(feed);
            match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("writing the result: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("{path}: {e}");
            ExitCode::FAILURE
        }
    }
}
