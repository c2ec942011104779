//! `?reject_conflicts=true` on booking writes (checked by the store in the booking's own write
//! transaction), and `&recheck_feeds=true`: a fresh look at the platforms' feeds before the
//! decision. The detection pass after every change is the service layer's
//! (`kalends_service::conflicts`).

use std::time::Duration;

use kalends_service::importer::Recheck;
use kalends_store::Overlap;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::error::ApiError;
use crate::state::AppState;

/// How long a fresh look at the feeds may take by default.
const RECHECK_TIMEOUT_MS: u32 = 2_500;

/// The longest fresh look a request may ask for.
const RECHECK_TIMEOUT_MAX_MS: u32 = 30_000;

/// `?reject_conflicts=true&recheck_feeds=true` on booking writes.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct WriteQuery {
    /// Answer 409 with the colliding items instead of saving a booking that overlaps another
    /// confirmed booking, a block or an imported busy time of its resource or staff.
    pub reject_conflicts: Option<bool>,
    /// First read again every unpaused import of the booking's resource, its parent, its rooms
    /// and its staff (in parallel, each fetch conditional), store what changed, and only then
    /// decide; the answer's `feeds_rechecked` says what each showed.
    pub recheck_feeds: Option<bool>,
    /// How long that fresh look may take, in milliseconds (1 to 30,000; default 2,500). A feed
    /// that has not answered by then does not hold the booking up: it is reported as `timeout`
    /// and the decision rests on what was stored.
    pub recheck_timeout_ms: Option<u32>,
}

/// What a booking write's fresh look at one import found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FeedRechecked {
    /// The import.
    pub import_id: Uuid,
    /// `changed` (its new items were stored before the decision), `unchanged`, `timeout` (no
    /// answer in time: the decision used what was stored; the read goes on and is recorded) or
    /// `failed` (the feed could not be read, or the mass-removal guard held what it answered:
    /// what was stored stands).
    pub outcome: String,
    /// Why it failed, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl WriteQuery {
    /// What the booking write does about overlaps. The store checks and saves in one
    /// transaction, serialised per resource and staff member, so concurrent requests for the
    /// same time cannot both pass the check.
    pub fn overlap(&self) -> Overlap {
        if self.reject_conflicts == Some(true) { Overlap::Reject } else { Overlap::Allow }
    }

    /// With `recheck_feeds=true`: reads again the imports a booking of `resource` and `staff`
    /// is checked against, before the write decides, and says what each showed. `None` when
    /// the request did not ask for it.
    pub async fn recheck(
        &self,
        state: &AppState,
        tenant_id: Uuid,
        resource: Option<Uuid>,
        staff: &[Uuid],
    ) -> Result<Option<Vec<FeedRechecked>>, ApiError> {
        let within = match self.recheck_timeout_ms {
            None => RECHECK_TIMEOUT_MS,
            Some(ms @ 1..=RECHECK_TIMEOUT_MAX_MS) => ms,
            Some(_) => {
                return Err(ApiError::invalid_field(
                    "recheck_timeout_ms",
                    format!("must be between 1 and {RECHECK_TIMEOUT_MAX_MS} milliseconds"),
                ));
            }
        };
        if self.recheck_feeds != Some(true) {
            return Ok(None);
        }
        let imports = state.store.imports_blocking(tenant_id, resource, staff).await?;
        let within = Duration::from_millis(u64::from(within));
        let seen = state.importer.recheck(tenant_id, &imports, within).await;
        let seen = seen.into_iter().map(|(import_id, seen)| FeedRechecked {
            import_id,
            outcome: seen.as_str().to_owned(),
            error: match seen {
                Recheck::Failed(error) => error,
                _ => None,
            },
        });
        Ok(Some(seen.collect()))
    }
}
