//! The field checks the JSON API and the console share: each request's submitted fields become
//! a domain value here, or every problem with them at once, each named by its field. An API body
//! (`src/api/`) and a console form (`src/pages/dashboard/`) hand their fields to the same
//! function, so a form and an API call can never disagree; how a refusal is shown (problem+json,
//! errors beside the fields) is each caller's.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub mod blocks;
pub mod checklists;
pub mod feeds;
pub mod fields;
pub mod imports;
pub mod json;
pub mod organisations;
pub mod resources;
pub mod settings;
pub mod webhook_endpoints;

/// One field's problem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// The field, as a path into the request (`customer.email`, `staff_ids[1]`, `start_date`).
    pub field: String,
    /// What is wrong with it, in words a host developer can act on.
    pub message: String,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// The note a person adds to a change (resolving a conflict, marking a checklist item): optional,
/// blank is none, at most 2,000 characters.
pub fn note(value: Option<&str>) -> Result<Option<String>, Vec<FieldError>> {
    let mut c = fields::Checker::default();
    let note = c.optional_text("note", value, 2_000);
    c.finish(|| note)
}
