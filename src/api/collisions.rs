//! `?reject_conflicts=true` on booking writes (checked by the store in the booking's own write
//! transaction). The detection pass after every change is the service layer's
//! (`kalends_core::service::conflicts`).

use kalends_core::store::Overlap;
use serde::Deserialize;
use utoipa::IntoParams;

/// `?reject_conflicts=true` on booking writes.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct WriteQuery {
    /// Answer 409 with the colliding items instead of saving a booking that overlaps another
    /// confirmed booking, a block or an imported busy time of its resource or staff.
    pub reject_conflicts: Option<bool>,
}

impl WriteQuery {
    /// What the booking write does about overlaps. The store checks and saves in one
    /// transaction, serialised per resource and staff member, so concurrent requests for the
    /// same time cannot both pass the check.
    pub fn overlap(&self) -> Overlap {
        if self.reject_conflicts == Some(true) { Overlap::Reject } else { Overlap::Allow }
    }
}
