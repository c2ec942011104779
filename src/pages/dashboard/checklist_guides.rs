//! What the checklist page says about each platform: the steps in its extranet or app (menu
//! path, bulk-edit form, fields), and the CSV of merged date ranges in the columns of that
//! bulk-edit form.

use kalends_core::checklists::{Action, BulkRange, ListingPlatform};

/// The steps that close or open nights on `platform`, by hand.
pub fn steps(platform: ListingPlatform) -> &'static [&'static str] {
    match platform {
        ListingPlatform::BookingCom => &[
            "Extranet: Rates & Availability → Calendar, then “Bulk edit” (or Open/close rooms).",
            "Room type: the room named in the item.",
            "Dates: From the first night, Until the last night (the day before check-out).",
            "Days of the week: tick only the days of the bulk view's range.",
            "Room status: Close (or Open to reopen), then Save changes.",
        ],
        ListingPlatform::Agoda => &[
            "YCS: Calendar → “Bulk update”.",
            "Room type: the room named in the item.",
            "Date range: first night to last night; Days: tick the days of the range.",
            "Availability: Close out (or Open), then Save.",
        ],
        ListingPlatform::Expedia => &[
            "Partner Central: Rates & Inventory → “Bulk update” (Update rates and availability).",
            "Room type and rate plans: the room named in the item, all rate plans.",
            "Dates: first night to last night; Days of week: those of the range.",
            "Room status: Closed (or Open), then Save.",
        ],
        ListingPlatform::Makemytrip | ListingPlatform::Goibibo => &[
            "InGo-MMT extranet (one inventory for MakeMyTrip and Goibibo): Rates & Inventory → “Bulk update”.",
            "Room: the room named in the item.",
            "From date and To date: first night to last night; Days: those of the range.",
            "Inventory: Block (stop sell) to close, Unblock to open; then Update.",
        ],
        ListingPlatform::Airbnb => &[
            "Hosting → Calendar: choose the listing.",
            "Select the nights (first to last) on the calendar.",
            "Availability: Blocked nights to close, Available to open; Save.",
        ],
        ListingPlatform::Vrbo => &[
            "Calendar: choose the property.",
            "Select the nights (first to last).",
            "Block the dates to close, Unblock to open; Save.",
        ],
        ListingPlatform::Other => &[
            "The platform's calendar or availability page.",
            "Close (stop sell) or open each night listed: the check-out day itself stays open.",
        ],
    }
}

/// The bulk-edit form's column names and its words for closed and open, for the CSV.
fn columns(platform: ListingPlatform) -> ([&'static str; 5], [&'static str; 2]) {
    match platform {
        ListingPlatform::BookingCom => (
            ["room_type", "date_from", "date_until", "days_of_week", "room_status"],
            ["close", "open"],
        ),
        ListingPlatform::Agoda => {
            (["Room Type", "Start Date", "End Date", "Days", "Close Out"], ["Y", "N"])
        }
        ListingPlatform::Expedia => (
            ["Room type", "Start date", "End date", "Days of week", "Room status"],
            ["Closed", "Open"],
        ),
        ListingPlatform::Makemytrip | ListingPlatform::Goibibo => {
            (["Room", "From Date", "To Date", "Days", "Inventory"], ["Block", "Unblock"])
        }
        _ => (
            ["listing", "first_night", "last_night", "days", "availability"],
            ["blocked", "available"],
        ),
    }
}

/// A field of a CSV line, quoted when it must be.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// The CSV of `rows` (room, range) for `platform`'s bulk editor: one line per merged range, the
/// last night inclusive as the forms ask, verify rows as open (the state to check).
pub fn csv(platform: ListingPlatform, rows: &[(String, BulkRange)]) -> String {
    let (header, words) = columns(platform);
    let mut out = header.join(",");
    out.push_str("\r\n");
    for (room, range) in rows {
        let state = if range.action == Action::Close { words[0] } else { words[1] };
        let days: Vec<String> = range.days.iter().map(|d| d.to_string()).collect();
        let line = [
            field(room),
            range.start.to_string(),
            range.last.to_string(),
            field(&days.join(" ")),
            state.to_owned(),
        ];
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, Weekday};

    #[test]
    fn the_csv_has_the_bulk_forms_columns_and_one_line_per_range() {
        let day = |d| NaiveDate::from_ymd_opt(2030, 3, d).unwrap();
        let range = BulkRange {
            action: Action::Close,
            start: day(1),
            last: day(16),
            days: vec![Weekday::Fri, Weekday::Sat],
        };
        let text = csv(ListingPlatform::Agoda, &[("Deluxe, sea view".into(), range)]);
        assert_eq!(
            text,
            "Room Type,Start Date,End Date,Days,Close Out\r\n\
             \"Deluxe, sea view\",2030-03-01,2030-03-16,Fri Sat,Y\r\n"
        );
    }
}
