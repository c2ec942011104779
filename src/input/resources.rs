//! A resource's fields (`POST /api/v1/resources`, `PATCH`, `PUT .../by-external-id`, and the
//! console's property form).

use kalends_core::domain::NewResource;
use uuid::Uuid;

use super::FieldError;
use super::fields::Checker;

/// A resource as submitted.
#[derive(Clone, Copy, Debug, Default)]
pub struct ResourceFields<'a> {
    /// The host's own id.
    pub external_id: Option<&'a str>,
    /// Display name.
    pub name: &'a str,
    /// IANA zone; none means the tenant's.
    pub time_zone: Option<&'a str>,
    /// The whole property it is part of. Whether that resource can be one (same tenant, one
    /// level only) is the store's check, in the write's own transaction.
    pub parent_id: Option<Uuid>,
}

/// The resource to save, or every field's problem at once.
pub fn new_resource(fields: ResourceFields<'_>) -> Result<NewResource, Vec<FieldError>> {
    let mut c = Checker::default();
    let new = NewResource {
        external_id: fields.external_id.map(|e| c.external_id("external_id", e)),
        name: c.text("name", fields.name, 300),
        time_zone: fields.time_zone.and_then(|z| c.zone("time_zone", z)),
        parent_id: fields.parent_id,
    };
    c.finish(|| new)
}
