//! One side of a conflict as the API shows it: in a conflict's `items` and in the 409 answer of a
//! write that would collide.

use kalends_core::conflict_record::ConflictItem;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// One side of a conflict.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ConflictItemOut {
    /// `booking`, `block`, `feed` or `calendar`.
    pub kind: String,
    /// Its id (a booking, a block, an imported item).
    pub id: Uuid,
    /// A human label.
    pub label: String,
    /// For an imported OTA reservation: what its platform's feed says of it
    /// (`reservation_code`, `reservation_url`, `phone_last_digits`, `guests`, each only when
    /// the feed carries it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

impl From<&ConflictItem> for ConflictItemOut {
    fn from(i: &ConflictItem) -> Self {
        let (kind, label) = (i.kind.as_str().into(), i.label.clone());
        ConflictItemOut { kind, id: i.id, label, details: None }
    }
}
