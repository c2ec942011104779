//! What each sealed provider token is bound to.

use uuid::Uuid;

/// What a sealed token is bound to: its connection and its column.
pub(crate) fn context(id: Uuid, field: &str) -> String {
    format!("connection/{id}/{field}")
}
