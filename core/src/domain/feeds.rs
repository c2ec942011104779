//! Values shared by iCal feeds out and imports in.

use serde::{Deserialize, Serialize};

/// The platform an imported feed comes from. It decides how the feed's events are read (an Airbnb
/// "Reserved" is a reservation, adjacent Booking.com "CLOSED - Not available" nights are one stay)
/// and which exported feeds must never echo them back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// Airbnb.
    Airbnb,
    /// VRBO / HomeAway.
    Vrbo,
    /// Booking.com.
    BookingCom,
    /// A Google Calendar secret address.
    Google,
    /// An Outlook / Microsoft 365 published calendar.
    Outlook,
    /// Any other iCalendar source.
    Other,
}

impl Platform {
    /// Every platform, in the order the API documents them.
    pub const ALL: [Platform; 6] = [
        Platform::Airbnb,
        Platform::Vrbo,
        Platform::BookingCom,
        Platform::Google,
        Platform::Outlook,
        Platform::Other,
    ];

    /// The API and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Airbnb => "airbnb",
            Self::Vrbo => "vrbo",
            Self::BookingCom => "booking_com",
            Self::Google => "google",
            Self::Outlook => "outlook",
            Self::Other => "other",
        }
    }

    /// Parses the API and database name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}
