//! `kalends ics check FILE_OR_URL`: what an import of a feed would store, before registering it.
//! It refuses what an import refuses (a body that is no calendar, one over `import.max_bytes`,
//! a feed cut off or over `import.max_events`) with a non-zero exit, so that a feed is never
//! found fine here and failing there.

use std::io::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{NaiveDate, NaiveTime, Utc};
use kalends_core::config::ImportConfig;
use kalends_core::domain::Platform;
use kalends_ical::{ParseOptions, ParsedFeed, ReadFromError, Span};
use kalends_providers::feed::{FetchPolicy, Fetched, Fetcher, Validators, normalize_url};

/// What to check.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// A file path, `-` for standard input, or an `https://`, `http://` or `webcal://` URL.
    pub source: String,
    /// First day of the window (default: yesterday).
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Day after the window (default: 18 months ahead for recurring events, and no end for
    /// single events, as imports read them).
    #[arg(long)]
    pub to: Option<NaiveDate>,
    /// Zone of floating times when the file names none (IANA name; default UTC).
    #[arg(long, default_value = "UTC")]
    pub zone: String,
    /// Platform profile: airbnb, vrbo, booking_com, google, outlook or other.
    #[arg(long, default_value = "other")]
    pub platform: String,
    /// Print one JSON object: {"events", "skipped", "busy"}, and "truncated": true for a file
    /// that was cut off.
    #[arg(long)]
    pub json: bool,
}

/// Runs the check and prints the result.
pub async fn run(args: CheckArgs, limits: &ImportConfig) -> anyhow::Result<()> {
    let (options, from, to) = options(&args, limits.max_work_steps)?;
    let parsed = if reads_a_file(&args) {
        read_file(&args.source, &options, limits)?
    } else {
        let body = read(&args.source, limits.max_bytes).await?;
        ensure_calendar(&body, &args.source)?;
        kalends_ical::read(&body, &options)?
    };
    print(&args, &parsed, from, to)?;
    importable(&parsed, limits)
}

/// Whether the check reads a file, which [`run_on_file`] does without an async runtime.
pub fn reads_a_file(args: &CheckArgs) -> bool {
    is_file(&args.source)
}

/// [`run`] for a file (see [`reads_a_file`]), on this thread, as the last thing the process
/// does: the parsed feed is left to the exit to free, which costs less than handing 100 000
/// items' strings back to the allocator one by one.
pub fn run_on_file(args: CheckArgs, limits: &ImportConfig) -> anyhow::Result<()> {
    let (options, from, to) = options(&args, limits.max_work_steps)?;
    let parsed = read_file(&args.source, &options, limits)?;
    let printed = print(&args, &parsed, from, to).and_then(|()| importable(&parsed, limits));
    std::mem::forget(parsed);
    printed
}

/// Reads a file block by block (a file of 100 000 events is never held whole), refusing what an
/// import would refuse before reading it: a file over `import.max_bytes` or no calendar.
fn read_file(
    path: &str,
    options: &ParseOptions,
    limits: &ImportConfig,
) -> anyhow::Result<ParsedFeed> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path).with_context(|| format!("reading {path}"))?;
    let size = file.metadata().with_context(|| format!("reading {path}"))?.len();
    anyhow::ensure!(
        size <= limits.max_bytes,
        "{path} holds {size} bytes, more than the {} an import reads (import.max_bytes)",
        limits.max_bytes
    );
    let mut head = Vec::with_capacity(4096);
    (&mut file).take(4096).read_to_end(&mut head).with_context(|| format!("reading {path}"))?;
    ensure_calendar(&head, path)?;
    match kalends_ical::read_from(file, options) {
        Ok(parsed) => Ok(parsed),
        Err(ReadFromError::TooMuchWork(e)) => Err(e.into()),
        Err(e) => Err(e).with_context(|| format!("reading {path}")),
    }
}

/// Refuses a body that is no calendar (an HTML page, an empty file), as an import does.
fn ensure_calendar(head: &[u8], source: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        kalends_ical::looks_like_icalendar(head),
        "{source} is not an iCalendar file: it does not begin with BEGIN:VCALENDAR, and an import \
         of it fails and changes nothing stored"
    );
    Ok(())
}

/// After the report: fails, naming why, when an import of the feed would fail.
fn importable(parsed: &ParsedFeed, limits: &ImportConfig) -> anyhow::Result<()> {
    anyhow::ensure!(
        !parsed.truncated,
        "the feed is cut off (its calendar never ends): an import of it fails and changes \
         nothing stored"
    );
    anyhow::ensure!(
        parsed.events <= limits.max_events,
        "the feed holds {} events, more than the {} an import reads (import.max_events): an \
         import of it fails and changes nothing stored",
        parsed.events,
        limits.max_events
    );
    Ok(())
}

/// The reader's options for the arguments, and the window's first day and the day after it.
fn options(
    args: &CheckArgs,
    max_work: u64,
) -> anyhow::Result<(ParseOptions, NaiveDate, NaiveDate)> {
    let zone: chrono_tz::Tz = args
        .zone
        .parse()
        .map_err(|_| anyhow::anyhow!("--zone: {:?} is not an IANA zone", args.zone))?;
    let platform = Platform::parse(&args.platform).ok_or_else(|| {
        anyhow::anyhow!("--platform: must be airbnb, vrbo, booking_com, google, outlook or other")
    })?;
    let now = Utc::now();
    let from = args.from.unwrap_or(now.date_naive() - chrono::Duration::days(1));
    let to = args.to.unwrap_or(now.date_naive() + chrono::Duration::days(548));
    anyhow::ensure!(to > from, "--to must be after --from");
    let options = ParseOptions {
        from: from.and_time(NaiveTime::MIN).and_utc(),
        to: to.and_time(NaiveTime::MIN).and_utc(),
        floating_zone: zone,
        producer: platform.into(),
        max_events: usize::MAX,
        // Without --to, show what an import stores: every single event ahead.
        all_single_events: args.to.is_none(),
        max_work,
    };
    Ok((options, from, to))
}

fn print(
    args: &CheckArgs,
    parsed: &ParsedFeed,
    from: NaiveDate,
    to: NaiveDate,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if args.json {
        // Written in blocks of its own: no BufWriter, which would copy every block once more.
        parsed.write_json(&mut out)?;
        writeln_out(&mut out, "")?;
    } else {
        let mut out = std::io::BufWriter::new(out);
        print_text(&mut out, parsed, from, to)?;
        out.flush()?;
    }
    Ok(())
}

/// Whether the source names a file (not standard input or a URL).
fn is_file(source: &str) -> bool {
    source != "-" && !source.contains("://")
}

async fn read(source: &str, max_bytes: u64) -> anyhow::Result<Vec<u8>> {
    if source == "-" {
        let bytes = tokio::task::spawn_blocking(move || {
            use std::io::Read as _;
            let mut bytes = Vec::new();
            std::io::stdin()
                .take(max_bytes.saturating_add(1))
                .read_to_end(&mut bytes)
                .map(|_| bytes)
        })
        .await?
        .context("reading standard input")?;
        anyhow::ensure!(
            bytes.len() as u64 <= max_bytes,
            "standard input holds more than the {max_bytes} bytes an import reads \
             (import.max_bytes)"
        );
        return Ok(bytes);
    }
    let url = normalize_url(source)?;
    // The operator runs this on their own machine: intranet feeds are fair game here.
    let policy = FetchPolicy {
        allow_private_networks: true,
        timeout: Duration::from_secs(60),
        max_bytes,
        ..FetchPolicy::default()
    };
    match Fetcher::new(policy)?.fetch(&url, &Validators::default()).await? {
        Fetched::Body { body, .. } => Ok(body.to_vec()),
        Fetched::NotModified { .. } => anyhow::bail!("the server answered 304 to a plain GET"),
    }
}

fn writeln_out(out: &mut impl std::io::Write, line: &str) -> std::io::Result<()> {
    writeln!(out, "{line}")
}

fn print_text(
    out: &mut impl std::io::Write,
    parsed: &ParsedFeed,
    from: NaiveDate,
    to: NaiveDate,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "{} VEVENTs; {} busy occurrences from {from} to {to}; {} skipped",
        parsed.events,
        parsed.busy.len(),
        parsed.skipped.len()
    )?;
    if parsed.truncated {
        writeln!(out, "truncated: an import of this file fails and changes nothing stored")?;
    }
    if let (Some(first), Some(last)) = (parsed.busy.first(), parsed.busy.last()) {
        writeln!(out, "range: {} .. {}", span_text(&first.span).0, span_text(&last.span).1)?;
    }
    for item in &parsed.busy {
        let (start, end) = span_text(&item.span);
        let kind = serde_json::to_value(item.kind)?;
        let summary = item.summary.as_deref().unwrap_or("");
        writeln!(out, "  {start} .. {end}  {:<11}  {summary}", kind.as_str().unwrap_or(""))?;
    }
    if !parsed.skipped.is_empty() {
        writeln!(out, "skipped:")?;
        for s in &parsed.skipped {
            writeln!(out, "  {}: {}", s.uid.as_deref().unwrap_or("(no UID)"), s.reason)?;
        }
    }
    Ok(())
}

fn span_text(span: &Span) -> (String, String) {
    match span {
        Span::AllDay { start, end } => (start.to_string(), end.to_string()),
        Span::Timed { start, end } => (start.to_rfc3339(), end.to_rfc3339()),
    }
}
