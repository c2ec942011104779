//! The overview's timeline: one row per property or staff member, one cell per day, each cell
//! the most telling busy item of that day. Drawn by `overview.rs`; `rules.rs` marks the nights
//! the availability rules close.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use kalends_core::conflict_record::Conflict;
use kalends_core::conflicts::{Busy, Class, Source};
use kalends_core::domain::{Owner, Resource, TimeZone, local_midnight};
use kalends_ical::ItemDetails;
use kalends_store::Store;
use uuid::Uuid;

/// One row of the timeline: a resource or a staff member.
pub struct Row {
    /// Whose row.
    pub owner: Owner,
    /// Its name.
    pub name: String,
    /// The zone its days are cut in.
    pub zone: TimeZone,
    /// For a room of a house rented whole or by its rooms: the house's name (the row follows
    /// the house's, indented). Its days show the house's bookings too, and the house's its.
    pub house: Option<String>,
}

/// What one day of a row shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cell {
    /// The strongest kind of item on that day (`booking`, `tentative`, `feed`, `block`,
    /// `calendar`), if any.
    pub kind: Option<&'static str>,
    /// The labels of the items, for the tooltip and screen readers.
    pub labels: Vec<String>,
    /// An open conflict covering the day.
    pub conflict: Option<Uuid>,
}

/// The timeline's days and cells: `cells[row][day]`.
pub struct Timeline {
    /// The first day shown.
    pub from: NaiveDate,
    /// Days shown.
    pub days: Vec<NaiveDate>,
    /// Rows, in order.
    pub rows: Vec<Row>,
    /// Their cells.
    pub cells: Vec<Vec<Cell>>,
}

/// Which kind of item shows when several share a day: what most needs seeing first.
fn rank(kind: &str) -> u8 {
    match kind {
        "booking" => 5,
        "feed" => 4,
        "tentative" => 3,
        "block" => 2,
        _ => 1,
    }
}

fn kind_of(class: Class) -> &'static str {
    match class {
        Class::Confirmed => "booking",
        Class::Tentative => "tentative",
        Class::Block => "block",
        Class::Reservation(_) | Class::PlatformBlock(_) => "feed",
        Class::CalendarBusy => "calendar",
    }
}

/// Cuts one row's items (and its open conflicts) into days.
pub fn cells(
    days: &[NaiveDate],
    zone: TimeZone,
    items: &[Busy],
    conflicts: &[&Conflict],
) -> Vec<Cell> {
    let bounds: Vec<(DateTime<Utc>, DateTime<Utc>)> = days
        .iter()
        .map(|d| (local_midnight(*d, zone), local_midnight(*d + Duration::days(1), zone)))
        .collect();
    let mut cells = vec![Cell::default(); days.len()];
    let bounds = &bounds;
    let overlapping = |start: DateTime<Utc>, end: DateTime<Utc>| {
        // Days are in order: the first one ending after `start`, up to the last starting
        // before `end`.
        let first = bounds.partition_point(|(_, day_end)| *day_end <= start);
        (first..bounds.len()).take_while(move |&i| bounds[i].0 < end)
    };
    for item in items {
        let kind = kind_of(item.class);
        for i in overlapping(item.start, item.end) {
            let cell = &mut cells[i];
            if cell.kind.is_none_or(|k| rank(kind) > rank(k)) {
                cell.kind = Some(kind);
            }
            if cell.labels.len() < 4 {
                cell.labels.push(item.label.clone());
            }
        }
    }
    for conflict in conflicts {
        for i in overlapping(conflict.start, conflict.end) {
            cells[i].conflict.get_or_insert(conflict.id);
        }
    }
    cells
}

/// Reads and cuts the timeline of `rows` from `from` for `length` days.
pub async fn timeline(
    store: &Store,
    tenant_id: Uuid,
    rows: Vec<Row>,
    from: NaiveDate,
    length: i64,
) -> Result<Timeline, kalends_store::StoreError> {
    let days: Vec<NaiveDate> = (0..length).map(|i| from + Duration::days(i)).collect();
    let open = store.list_conflicts(tenant_id, Some(true), None, 500).await?.items;
    // Wide enough for every zone: each row keeps what falls on its own days.
    let window = (
        local_midnight(from, TimeZone::UTC) - Duration::days(1),
        local_midnight(from + Duration::days(length), TimeZone::UTC) + Duration::days(1),
    );
    let reads = rows.iter().map(|row| store.busy_items(tenant_id, row.owner, Some(window)));
    let mut items = futures::future::try_join_all(reads).await?;
    let imported: Vec<Uuid> = items
        .iter()
        .flatten()
        .filter(|b| b.item.source == Source::Feed)
        .map(|b| b.item.id)
        .collect();
    if !imported.is_empty() {
        let details = store.imported_details(tenant_id, &imported).await?;
        for item in items.iter_mut().flatten() {
            if let Some((_, details)) = details.iter().find(|(id, _)| *id == item.item.id) {
                item.label = detailed_label(&item.label, details);
            }
        }
    }
    let cells = rows
        .iter()
        .zip(&items)
        .map(|(row, items)| {
            let mine: Vec<&Conflict> = open.iter().filter(|c| c.owner == row.owner).collect();
            cells(&days, row.zone, items, &mine)
        })
        .collect();
    Ok(Timeline { from, days, rows, cells })
}

/// An imported reservation's label with what its platform's feed says of it, for the tooltip:
/// `Airbnb: Reserved (HMABCD1234, phone ending 4321, 2 guests)`.
fn detailed_label(label: &str, details: &ItemDetails) -> String {
    let mut known = Vec::new();
    known.extend(details.reservation_code().map(str::to_owned));
    known.extend(details.phone_last_digits().map(|d| format!("phone ending {d}")));
    known.extend(details.guests().map(|n| format!("{n} guest{}", if n == 1 { "" } else { "s" })));
    if known.is_empty() { label.to_owned() } else { format!("{label} ({})", known.join(", ")) }
}

/// The timeline's rows of `resources`, each house followed by its rooms (a room whose house is
/// not among them comes last, on its own).
pub fn property_rows(resources: Vec<Resource>, home: TimeZone) -> Vec<Row> {
    let names: HashMap<Uuid, String> =
        resources.iter().map(|r| (r.id, r.data.name.clone())).collect();
    let zones: HashMap<Uuid, TimeZone> =
        resources.iter().filter_map(|r| Some((r.id, r.data.time_zone?))).collect();
    // A room without a zone of its own is where its house is.
    let row = |r: &Resource| Row {
        owner: Owner::Resource(r.id),
        name: r.data.name.clone(),
        zone: r.data.time_zone.or_else(|| zones.get(&r.data.parent_id?).copied()).unwrap_or(home),
        house: r.data.parent_id.and_then(|p| names.get(&p).cloned()),
    };
    let mut rows = Vec::with_capacity(resources.len());
    for house in resources.iter().filter(|r| r.data.parent_id.is_none()) {
        rows.push(row(house));
        rows.extend(resources.iter().filter(|r| r.data.parent_id == Some(house.id)).map(row));
    }
    let orphan = |r: &&Resource| r.data.parent_id.is_some_and(|p| !names.contains_key(&p));
    rows.extend(resources.iter().filter(orphan).map(row));
    rows
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use kalends_core::conflicts::{ItemRef, Source};

    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2030, 3, d).unwrap()
    }

    fn busy(class: Class, from: u32, to: u32, label: &str) -> Busy {
        let at = |d: u32| Utc.with_ymd_and_hms(2030, 3, d, 0, 0, 0).unwrap();
        Busy {
            item: ItemRef { source: Source::Booking, id: Uuid::now_v7() },
            start: at(from),
            end: at(to),
            all_day: true,
            class,
            group: None,
            label: label.into(),
            kin: Default::default(),
        }
    }

    #[test]
    fn a_stay_covers_its_nights_and_not_its_check_out_day() {
        let days: Vec<_> = (10..15).map(day).collect();
        let cells = cells(&days, TimeZone::UTC, &[busy(Class::Confirmed, 11, 13, "Smith")], &[]);
        let kinds: Vec<_> = cells.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [None, Some("booking"), Some("booking"), None, None]);
        assert_eq!(cells[1].labels, ["Smith"]);
    }

    #[test]
    fn an_imported_reservation_is_labelled_with_what_its_feed_says_and_nothing_more() {
        let details = ItemDetails::new(Some("HMABCD1234"), None, Some("4321"), Some(1));
        let label = detailed_label("Airbnb: Reserved", &details);
        assert_eq!(label, "Airbnb: Reserved (HMABCD1234, phone ending 4321, 1 guest)");
        let bare = detailed_label("Airbnb: Reserved", &ItemDetails::default());
        assert_eq!(bare, "Airbnb: Reserved");
    }

    #[test]
    fn a_booking_shows_over_a_block_on_the_same_day_with_both_labels() {
        let days: Vec<_> = (10..12).map(day).collect();
        let items = [busy(Class::Block, 10, 12, "Painting"), busy(Class::Confirmed, 11, 12, "Lee")];
        let cells = cells(&days, TimeZone::UTC, &items, &[]);
        assert_eq!(cells[0].kind, Some("block"));
        assert_eq!(cells[1].kind, Some("booking"));
        assert_eq!(cells[1].labels, ["Painting", "Lee"]);
    }
}
