//! How an import reads its feed: what its items are, how its dates are meant, and what an item
//! gone from the feed means. Channel managers (Beds24, Guesty) offer the same settings because
//! some platforms' exports get them wrong.

use chrono::{DateTime, Utc};

use super::Platform;

/// What an imported feed's items are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ImportAs {
    /// Guests' stays: the platform's own closed dates stay blocks (Airbnb's "Not available"),
    /// every other item is a reservation.
    Reservation,
    /// Closed dates: every item is a block.
    Block,
}

/// What an all-day event's end date means in a feed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EndDateIs {
    /// The check-out day (RFC 5545: DTEND is exclusive).
    #[default]
    Checkout,
    /// The last night: the stay ends the day after.
    LastNight,
}

/// What an item gone from the feed means.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OnMissing {
    /// It was cancelled: it is removed.
    #[default]
    Remove,
    /// It stays (its dates stay blocked), marked missing, and the owner is told until they
    /// confirm the removal.
    KeepAndAlert,
}

/// An import's reading settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImportSettings {
    /// What its items are; `None`: the platform's default ([`ImportSettings::import_as`]).
    pub import_as: Option<ImportAs>,
    /// What an all-day end date means.
    pub end_date_is: EndDateIs,
    /// Days every item is moved by, -2 to 2.
    pub date_shift_days: i8,
    /// What an item gone from the feed means.
    pub on_missing: OnMissing,
    /// The share of the import's future items (0 to 1) above which a run that would remove them
    /// is held instead (a platform outage serving an empty calendar must not free every night).
    pub max_removed_share: f64,
}

impl Default for ImportSettings {
    fn default() -> Self {
        Self {
            import_as: None,
            end_date_is: EndDateIs::Checkout,
            date_shift_days: 0,
            on_missing: OnMissing::Remove,
            max_removed_share: 0.5,
        }
    }
}

impl ImportSettings {
    /// The shift's bounds.
    pub const SHIFT_DAYS: std::ops::RangeInclusive<i8> = -2..=2;

    /// What the items of a feed from `platform` are: as set, else reservations for the booking
    /// platforms and blocks for calendars.
    pub fn import_as(&self, platform: Platform) -> ImportAs {
        self.import_as.unwrap_or(match platform {
            Platform::Airbnb | Platform::Vrbo | Platform::BookingCom => ImportAs::Reservation,
            Platform::Google | Platform::Outlook | Platform::Other => ImportAs::Block,
        })
    }
}

/// Why an import's last run was held by the mass-removal guard, and since when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// The first held run.
    pub since: DateTime<Utc>,
    /// What the held run would have removed, in words.
    pub reason: String,
}

macro_rules! names {
    ($ty:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in the order the API documents them.
            pub const ALL: &'static [$ty] = &[$(<$ty>::$variant),+];

            /// The API and database name.
            pub fn as_str(self) -> &'static str {
                match self { $(<$ty>::$variant => $name),+ }
            }

            /// Parses the API and database name.
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }
    };
}

names!(ImportAs { Reservation => "reservation", Block => "block" });
names!(EndDateIs { Checkout => "checkout", LastNight => "last_night" });
names!(OnMissing { Remove => "remove", KeepAndAlert => "keep_and_alert" });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booking_platforms_import_reservations_and_calendars_import_blocks() {
        let settings = ImportSettings::default();
        assert_eq!(settings.import_as(Platform::Airbnb), ImportAs::Reservation);
        assert_eq!(settings.import_as(Platform::Google), ImportAs::Block);
        let blocks = ImportSettings { import_as: Some(ImportAs::Block), ..settings };
        assert_eq!(blocks.import_as(Platform::BookingCom), ImportAs::Block);
    }

    #[test]
    fn every_setting_reads_back_its_own_name() {
        for v in EndDateIs::ALL {
            assert_eq!(EndDateIs::parse(v.as_str()), Some(*v));
        }
        assert_eq!(OnMissing::parse("keep_and_alert"), Some(OnMissing::KeepAndAlert));
        assert_eq!(ImportAs::parse("event"), None);
    }
}
