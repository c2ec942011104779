//! A block's fields (`POST /api/v1/blocks` and the console's block form).

use kalends_core::domain::{NewBlock, TimeZone};
use uuid::Uuid;

use super::FieldError;
use super::fields::{Checker, SpanForm};

/// A block as submitted: exactly one of `resource_id` and `staff_id`, and either `start`/`end`
/// or `start_date`/`end_date` (exclusive end).
#[derive(Clone, Copy, Debug, Default)]
pub struct BlockFields<'a> {
    /// The unavailable resource.
    pub resource_id: Option<Uuid>,
    /// The unavailable staff member.
    pub staff_id: Option<Uuid>,
    /// When, in either form.
    pub span: SpanForm<'a>,
    /// Why; shown to staff.
    pub reason: Option<&'a str>,
}

/// The block to add, or every field's problem at once.
pub fn new_block(fields: BlockFields<'_>) -> Result<NewBlock, Vec<FieldError>> {
    let mut c = Checker::default();
    if fields.resource_id.is_some() == fields.staff_id.is_some() {
        c.fail("resource_id", "give exactly one of resource_id and staff_id");
    }
    let span = c.span(fields.span, Some(TimeZone::UTC));
    let reason = c.optional_text("reason", fields.reason, 1_000);
    c.finish(|| NewBlock {
        resource_id: fields.resource_id,
        staff_id: fields.staff_id,
        span: span.expect("checked"),
        reason,
    })
}
