//! Kalends providers: where calendars live outside Kalends.
//!
//! - `calendar`: the provider-neutral types that cross the `CalendarProvider` boundary;
//! - `provider`: `CalendarProvider`, an enum over Google (oauth2 + google-calendar3) and Microsoft
//!   (oauth2 + graph-rs-sdk); SDK types never leave `google` and `microsoft`;
//! - `caldav`: iCloud and any CalDAV server (libdav), with an app password instead of OAuth;
//! - `oauth`: the authorization-code flow with PKCE, refresh and revocation, for both;
//! - `feed`: iCal feed URLs fetched safely;
//! - `outbound`: the address guard and capped body reads every outbound client goes through;
//! - `text`: text a remote server wrote, as Kalends keeps it.
//!
//! The provider sandbox that emulates both providers is its own crate, `kalends-sandbox`: the
//! providers' tests run against it, and the binary points a provider at it by its settings.

pub mod caldav;
pub mod calendar;
mod error;
pub mod feed;
mod google;
pub mod limits;
mod microsoft;
pub mod oauth;
pub mod outbound;
pub mod provider;
mod refusal;
pub mod session;
#[cfg(test)]
mod test_server;
pub mod text;

pub use error::{ProviderError, is_dead_grant, parse_retry_after};
pub use google::GoogleCalendar;
pub use google::workspace;
pub use microsoft::{MicrosoftCalendar, tenant};
