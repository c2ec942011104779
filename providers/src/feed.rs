//! Fetching iCal feed URLs politely and safely.
//!
//! Kalends polls booking platforms' calendar exports (Airbnb, Booking.com, VRBO, Google
//! secret addresses) every 30 minutes. The [`Fetcher`] here:
//!
//! - is polite: conditional requests ([`Validators`]), gzip, an identifying `User-Agent`,
//!   and errors that say whether and when to retry ([`FetchError::is_retryable`],
//!   [`FetchError::retry_after`]);
//! - cannot be pointed at the operator's network: loopback, private, link-local and other
//!   non-public addresses are refused on every redirect hop, checked on the address
//!   actually connected to (so DNS rebinding does not help), unless
//!   [`FetchPolicy::allow_private_networks`] is set or [`FetchPolicy::allowed`] names them
//!   (the guard is [`crate::outbound`], shared with CalDAV and webhooks);
//! - bounds its cost: one deadline for the whole fetch, a size limit enforced on the
//!   decoded body while it streams, and a redirect limit;
//! - keeps feed URLs secret: errors and logs name the host, never the path or query.

mod error;
mod fetcher;
mod normalize;
#[cfg(test)]
mod tests;

pub use crate::outbound::{AddressKind, forbidden_kind};
pub use error::FetchError;
pub use fetcher::{FetchPolicy, Fetched, Fetcher, Validators};
pub use normalize::normalize_url;
