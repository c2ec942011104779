//! The overview's pictures: the last 24 hours by the hour and the last 30 days by the day, one
//! small bar chart per series, drawn here as inline SVG (no chart script in the browser). Each
//! chart is an image whose `<title>` says its total and busiest bucket and whose `<desc>` lists
//! every bucket that had any, so a screen reader hears what the bars show.

use chrono::{DateTime, Duration, Utc};
use kalends_core::domain::TimeZone;
use kalends_store::StoreError;
use kalends_store::charts::{Buckets, Series};
use maud::{Markup, html};
use uuid::Uuid;

use crate::state::AppState;

/// One window of charts: its buckets and how a bucket is named.
#[derive(Clone)]
struct Window {
    /// `hours` or `days`: part of each chart's id.
    id: &'static str,
    /// "in the last 24 hours", for the charts' titles.
    words: &'static str,
    buckets: Buckets,
    /// `%H:%M` for hours, `%a %-d %b` for days.
    label: &'static str,
}

/// The counts of every series over one window.
pub struct Charts {
    window: Window,
    series: Vec<(Series, Vec<i64>)>,
    zone: TimeZone,
}

/// The charts of the last 24 hours and the last 30 days, in the tenant's zone `zone`.
pub async fn read(
    state: &AppState,
    tenant_id: Uuid,
    zone: TimeZone,
    now: DateTime<Utc>,
) -> Result<[Charts; 2], StoreError> {
    let today = now.with_timezone(&zone.tz()).date_naive();
    let hours = Window {
        id: "hours",
        words: "in the last 24 hours",
        buckets: Buckets::ending_at(now, Duration::hours(1), 24),
        label: "%H:%M",
    };
    let days = Window {
        id: "days",
        words: "in the last 30 days",
        buckets: Buckets::days_until(today, 30, zone),
        label: "%a %-d %b",
    };
    let (hours, days) = tokio::try_join!(
        window(state, tenant_id, hours, zone),
        window(state, tenant_id, days, zone)
    )?;
    Ok([hours, days])
}

async fn window(
    state: &AppState,
    tenant_id: Uuid,
    window: Window,
    zone: TimeZone,
) -> Result<Charts, StoreError> {
    let reads = Series::ALL.map(|s| state.store.chart_series(tenant_id, s, &window.buckets));
    let counts = futures::future::try_join_all(reads).await?;
    Ok(Charts { window, series: Series::ALL.into_iter().zip(counts).collect(), zone })
}

fn name(series: Series) -> &'static str {
    match series {
        Series::BookingsSynced => "Bookings synced",
        Series::ImportRuns => "Import runs",
        Series::ImportFailures => "Import failures",
        Series::ConflictsOpened => "Conflicts opened",
        Series::ConflictsResolved => "Conflicts resolved",
    }
}

impl Charts {
    /// The name of bucket `i`: its hour or its day, in the tenant's zone.
    fn bucket(&self, i: usize) -> String {
        let Some(at) = self.window.buckets.start_of(i) else { return String::new() };
        at.with_timezone(&self.zone.tz()).format(self.window.label).to_string()
    }

    /// The section: a heading and one chart per series.
    pub fn markup(&self, heading: &str) -> Markup {
        let id = format!("charts-{}", self.window.id);
        let last = self.window.buckets.count().saturating_sub(1);
        html! {
            section.charts aria-labelledby=(id) {
                h3 id=(id) { (heading) }
                div.chart-grid {
                    @for (series, counts) in &self.series {
                        (self.chart(*series, counts))
                    }
                }
                p.muted.chart-axis { "From " (self.bucket(0)) " to " (self.bucket(last)) }
            }
        }
    }

    fn chart(&self, series: Series, counts: &[i64]) -> Markup {
        let total: i64 = counts.iter().sum();
        let id = format!("{}-{:?}", self.window.id, series).to_lowercase();
        let busiest = counts.iter().enumerate().max_by_key(|(i, c)| (**c, usize::MAX - i));
        let mut title = format!("{} {}: {total}", name(series), self.window.words);
        if let Some((i, most)) = busiest.filter(|(_, c)| **c > 0) {
            title.push_str(&format!(", most at {} ({most})", self.bucket(i)));
        }
        let desc: Vec<String> = counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| format!("{}: {c}", self.bucket(i)))
            .collect();
        let desc = if desc.is_empty() { "None.".to_owned() } else { desc.join("; ") };
        html! {
            figure.chart {
                figcaption { (name(series)) ": " strong { (total) } }
                svg role="img" aria-labelledby=(format!("{id}-t {id}-d")) viewBox=(view_box(counts.len()))
                    preserveAspectRatio="none" focusable="false" {
                    title id=(format!("{id}-t")) { (title) }
                    desc id=(format!("{id}-d")) { (desc) }
                    (bars(counts))
                }
            }
        }
    }
}

/// How tall the chart is, in its own units; each bucket is ten wide.
const HEIGHT: i64 = 40;

fn view_box(count: usize) -> String {
    format!("0 0 {} {HEIGHT}", count * 10)
}

/// One bar per bucket, the tallest reaching the top; an empty bucket is a thin line on the
/// baseline, so that "none" still reads as a bucket.
fn bars(counts: &[i64]) -> Markup {
    let most = counts.iter().copied().max().unwrap_or(0).max(1);
    html! {
        @for (i, count) in counts.iter().enumerate() {
            @let height = if *count == 0 { 1 } else { (count * (HEIGHT - 2) / most).max(2) };
            rect class=(if *count == 0 { "none" } else { "bar" })
                x=(i * 10 + 1) y=(HEIGHT - height) width="8" height=(height) {}
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn charts(counts: Vec<i64>) -> Charts {
        let now = Utc.with_ymd_and_hms(2030, 3, 10, 14, 25, 0).unwrap();
        let window = Window {
            id: "hours",
            words: "in the last 24 hours",
            buckets: Buckets::ending_at(now, Duration::hours(1), 24),
            label: "%H:%M",
        };
        Charts { window, series: vec![(Series::ConflictsOpened, counts)], zone: TimeZone::UTC }
    }

    #[test]
    fn a_chart_says_its_total_and_busiest_hour_and_lists_every_hour_that_had_any() {
        let mut counts = vec![0; 24];
        counts[23] = 2;
        counts[20] = 3;
        let html = charts(counts).markup("Last 24 hours").into_string();
        assert!(
            html.contains("Conflicts opened in the last 24 hours: 5, most at 11:00 (3)"),
            "{html}"
        );
        assert!(html.contains("<desc id=\"hours-conflictsopened-d\">11:00: 3; 14:00: 2</desc>"));
        assert_eq!(html.matches("class=\"bar\"").count(), 2);
        assert_eq!(html.matches("class=\"none\"").count(), 22);
    }

    #[test]
    fn an_empty_chart_says_none() {
        let html = charts(vec![0; 24]).markup("Last 24 hours").into_string();
        assert!(html.contains("Conflicts opened in the last 24 hours: 0</title>"), "{html}");
        assert!(html.contains(">None.</desc>"));
    }
}
