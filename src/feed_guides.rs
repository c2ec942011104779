//! Step-by-step instructions for subscribing each platform to an exported feed.

use serde::Serialize;
use utoipa::ToSchema;

/// How to add the feed to one platform.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Guide {
    /// Platform key (`airbnb`, `booking_com`, `vrbo`, `google`, `outlook`, `apple`).
    pub platform: &'static str,
    /// Its name.
    pub title: &'static str,
    /// What to do, in order; `{url}` is already filled in.
    pub steps: Vec<String>,
    /// How often the platform re-reads the feed, as far as it says.
    pub refresh: &'static str,
}

struct Template {
    platform: &'static str,
    title: &'static str,
    steps: &'static [&'static str],
    refresh: &'static str,
    webcal: bool,
}

const TEMPLATES: &[Template] = &[
    Template {
        platform: "airbnb",
        title: "Airbnb",
        steps: &[
            "Open airbnb.com as the host and go to Calendar, then pick the listing.",
            "Open Availability (the settings panel of the calendar) and choose \"Connect to another website\" (\"Import calendar\").",
            "Paste this address as the calendar address: {url}",
            "Name it \"Kalends\" and choose \"Import calendar\".",
            "Airbnb now blocks every date this feed marks busy. Use a feed with the busy profile here: Airbnb shows nothing to guests, but keep personal data out of it anyway.",
        ],
        refresh: "Airbnb re-reads imported calendars every few hours; there is no manual refresh.",
        webcal: false,
    },
    Template {
        platform: "booking_com",
        title: "Booking.com",
        steps: &[
            "Log in to the Booking.com extranet and open Rates & Availability, then Sync calendars (Calendar, then Import/Export on older extranets).",
            "Choose \"Add calendar connection\" (\"Import calendar\").",
            "Paste this address: {url}",
            "Give the connection a name such as \"Kalends\" and save it.",
            "Booking.com closes the dates this feed marks busy. Check the room type it is connected to: one feed per room type.",
        ],
        refresh: "Booking.com re-reads imported calendars about every 2 hours; some accounts take longer.",
        webcal: false,
    },
    Template {
        platform: "vrbo",
        title: "VRBO",
        steps: &[
            "Log in to VRBO as the owner, open the property and go to Calendar.",
            "Choose Import/Export (\"Sync calendar\"), then \"Import calendar\".",
            "Paste this address: {url}",
            "Name it \"Kalends\", pick a colour, and save.",
        ],
        refresh: "VRBO re-reads imported calendars every few hours.",
        webcal: false,
    },
    Template {
        platform: "google",
        title: "Google Calendar",
        steps: &[
            "Open calendar.google.com on a computer (the phone app cannot add calendars by URL).",
            "Next to \"Other calendars\" choose +, then \"From URL\".",
            "Paste this address: {url}",
            "Choose \"Add calendar\". It appears under \"Other calendars\" on every device of that account.",
        ],
        refresh: "Google re-reads subscribed calendars when it likes, usually every few hours up to a day.",
        webcal: false,
    },
    Template {
        platform: "outlook",
        title: "Outlook",
        steps: &[
            "Open Outlook on the web (outlook.com or Microsoft 365) and go to the Calendar.",
            "Choose \"Add calendar\", then \"Subscribe from web\".",
            "Paste this address: {url}",
            "Give it a name and a colour, then choose Import.",
        ],
        refresh: "Outlook re-reads subscribed calendars every few hours.",
        webcal: false,
    },
    Template {
        platform: "apple",
        title: "Apple Calendar",
        steps: &[
            "On a Mac: in Calendar choose File, then \"New Calendar Subscription\". On an iPhone: Settings, Calendar, Accounts, Add Account, Other, \"Add Subscribed Calendar\".",
            "Paste this address: {url}",
            "Choose Subscribe. On the Mac, set \"Auto-refresh\" to every 15 minutes or every hour.",
        ],
        refresh: "Apple Calendar re-reads the feed at the auto-refresh interval you choose.",
        webcal: true,
    },
];

/// The guides for a feed whose address is `url`.
pub fn guides(url: &str) -> Vec<Guide> {
    let webcal = webcal_url(url);
    TEMPLATES
        .iter()
        .map(|t| {
            let address = if t.webcal { webcal.as_str() } else { url };
            Guide {
                platform: t.platform,
                title: t.title,
                steps: t.steps.iter().map(|s| s.replace("{url}", address)).collect(),
                refresh: t.refresh,
            }
        })
        .collect()
}

/// The `webcal://` form of an http(s) address, which calendar apps open as a subscription.
pub fn webcal_url(url: &str) -> String {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    rest.map_or_else(|| url.to_owned(), |r| format!("webcal://{r}"))
}
