//! The console overview's charts: how many of one kind of event a tenant had in each hour or day
//! of a window. One statement per series reads the instants in the window; they are counted
//! into buckets here, which reads the same on SQLite (instants stored as text) and PostgreSQL.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

use super::{Store, StoreError, with_read_pool};
use kalends_core::domain::{TimeZone, local_midnight};

/// A series' statement, a literal: `what` and the instant `at` of table `table`'s rows of the
/// tenant `$1` (and `only`) from `$2` until `$3`.
macro_rules! series_sql {
    ($what:literal, $table:literal, $at:literal, $only:literal) => {
        concat!(
            "SELECT ",
            $what,
            ", ",
            $at,
            " FROM ",
            $table,
            " WHERE tenant_id = $1",
            $only,
            " AND ",
            $at,
            " >= $2 AND ",
            $at,
            " < $3"
        )
    };
}

/// What a chart counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Series {
    /// Bookings written to a staff calendar (a booking once per bucket, however many calendars).
    BookingsSynced,
    /// Feed import runs that ended.
    ImportRuns,
    /// Of those, the failed ones.
    ImportFailures,
    /// Conflicts found.
    ConflictsOpened,
    /// Conflicts that ended, by themselves or by hand.
    ConflictsResolved,
}

impl Series {
    /// Every series, in the order the overview shows them.
    pub const ALL: [Series; 5] = [
        Series::BookingsSynced,
        Series::ImportRuns,
        Series::ImportFailures,
        Series::ConflictsOpened,
        Series::ConflictsResolved,
    ];

    /// Its statement: `(what, when)` of the tenant `$1` from `$2` until `$3`, where `what`
    /// counts once per bucket.
    fn sql(self) -> &'static str {
        match self {
            Series::BookingsSynced => {
                series_sql!("booking_id", "booking_events", "synced_at", " AND state = 'synced'")
            }
            Series::ImportRuns => series_sql!("id", "import_runs", "finished_at", ""),
            Series::ImportFailures => {
                series_sql!("id", "import_runs", "finished_at", " AND outcome = 'failed'")
            }
            Series::ConflictsOpened => series_sql!("id", "conflicts", "detected_at", ""),
            Series::ConflictsResolved => series_sql!("id", "conflicts", "resolved_at", ""),
        }
    }
}

/// Consecutive spans of time a chart counts in: hours, or a zone's days (23 or 25 hours long
/// when its clocks change).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Buckets {
    /// Where each bucket starts, in order, then where the last one ends.
    edges: Vec<DateTime<Utc>>,
}

impl Buckets {
    /// The `count` buckets of `width` that end with the one holding `now`.
    pub fn ending_at(now: DateTime<Utc>, width: Duration, count: usize) -> Self {
        let secs = width.num_seconds().max(1);
        let current = now.timestamp().div_euclid(secs) * secs;
        let count = i64::try_from(count).unwrap_or(0);
        let edges = (1 - count..=1)
            .filter_map(|i| DateTime::from_timestamp(current + secs * i, 0))
            .collect();
        Self { edges }
    }

    /// The `count` days of `zone` that end with `today`, each from its midnight there.
    pub fn days_until(today: NaiveDate, count: usize, zone: TimeZone) -> Self {
        let count = i64::try_from(count).unwrap_or(0);
        let edges =
            (1 - count..=1).map(|i| local_midnight(today + Duration::days(i), zone)).collect();
        Self { edges }
    }

    /// How many buckets.
    pub fn count(&self) -> usize {
        self.edges.len().saturating_sub(1)
    }

    /// Where bucket `i` starts.
    pub fn start_of(&self, i: usize) -> Option<DateTime<Utc>> {
        self.edges.get(i).copied().filter(|_| i < self.count())
    }

    fn span(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let first = self.edges.first().copied().unwrap_or(DateTime::UNIX_EPOCH);
        (first, self.edges.last().copied().unwrap_or(first))
    }

    /// The bucket `at` falls in.
    fn index(&self, at: DateTime<Utc>) -> Option<usize> {
        let after = self.edges.partition_point(|edge| *edge <= at);
        after.checked_sub(1).filter(|i| *i < self.count())
    }
}

impl Store {
    /// How many events of `series` the tenant had in each of `buckets`.
    pub async fn chart_series(
        &self,
        tenant_id: Uuid,
        series: Series,
        buckets: &Buckets,
    ) -> Result<Vec<i64>, StoreError> {
        let (from, until) = buckets.span();
        let rows: Vec<(Uuid, DateTime<Utc>)> = with_read_pool!(self, |pool| {
            sqlx::query_as(series.sql())
                .bind(tenant_id)
                .bind(from)
                .bind(until)
                .fetch_all(pool)
                .await
        })?;
        let mut seen = std::collections::HashSet::new();
        let mut counts = vec![0; buckets.count()];
        for (what, at) in rows {
            if let Some(i) = buckets.index(at).filter(|i| seen.insert((what, *i))) {
                counts[i] += 1;
            }
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    #[test]
    fn the_last_bucket_holds_now_and_instants_fall_in_their_own() {
        let now = Utc.with_ymd_and_hms(2030, 3, 10, 14, 25, 0).unwrap();
        let hours = Buckets::ending_at(now, Duration::hours(1), 24);
        let first = Utc.with_ymd_and_hms(2030, 3, 9, 15, 0, 0).unwrap();
        assert_eq!(hours.count(), 24);
        assert_eq!(hours.span(), (first, Utc.with_ymd_and_hms(2030, 3, 10, 15, 0, 0).unwrap()));
        assert_eq!(hours.index(now), Some(23));
        assert_eq!(hours.index(first), Some(0));
        assert_eq!(hours.index(first - Duration::seconds(1)), None);
        assert_eq!(hours.index(hours.span().1), None);
    }

    #[test]
    fn a_day_the_clocks_change_is_one_bucket_from_midnight_to_midnight() {
        let berlin: TimeZone = "Europe/Berlin".parse().unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let days = Buckets::days_until(today, 30, berlin);
        // 25 Oct 2026 is 25 hours long in Berlin; the last day still starts at its midnight.
        assert_eq!(days.start_of(0), Some(Utc.with_ymd_and_hms(2026, 10, 24, 22, 0, 0).unwrap()));
        assert_eq!(days.start_of(29), Some(Utc.with_ymd_and_hms(2026, 11, 22, 23, 0, 0).unwrap()));
        assert_eq!(days.start_of(30), None);
        let late = Utc.with_ymd_and_hms(2026, 11, 23, 22, 59, 0).unwrap();
        assert_eq!(days.index(late), Some(29));
    }
}
