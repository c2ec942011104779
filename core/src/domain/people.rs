use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{BookingSpan, Email, TenantSettings, TimeZone};

/// A business using Kalends; every other record belongs to exactly one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    /// Server id.
    pub id: Uuid,
    /// The tenant's choices (name and zone included).
    pub settings: TenantSettings,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A staff member as the host describes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewStaff {
    /// The host's own id.
    pub external_id: Option<String>,
    /// Display name.
    pub name: String,
    /// Where their settings links and notices go.
    pub email: Option<Email>,
    /// Their zone; unset means the tenant's.
    pub time_zone: Option<TimeZone>,
}

/// A stored staff member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Staff {
    /// Server id.
    pub id: Uuid,
    /// The staff member's content.
    pub data: NewStaff,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A bookable thing (a property, a room, a rental item) as the host describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewResource {
    /// The host's own id.
    pub external_id: Option<String>,
    /// Display name.
    pub name: String,
    /// Its zone; unset means its house's (for a room), else the tenant's.
    pub time_zone: Option<TimeZone>,
    /// The resource it is part of (a room of a house rented whole or by its rooms): a booking
    /// of either closes the other. One level only: a parent has no parent of its own.
    pub parent_id: Option<Uuid>,
}

/// A stored resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// Server id.
    pub id: Uuid,
    /// The resource's content.
    pub data: NewResource,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Manual unavailability of a resource or a staff member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBlock {
    /// The resource that is unavailable (exactly one of `resource_id` and `staff_id`).
    pub resource_id: Option<Uuid>,
    /// The staff member who is unavailable.
    pub staff_id: Option<Uuid>,
    /// When.
    pub span: BookingSpan,
    /// Why, shown to staff.
    pub reason: Option<String>,
}

/// A stored block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Server id.
    pub id: Uuid,
    /// The block's content.
    pub data: NewBlock,
    /// Created.
    pub created_at: DateTime<Utc>,
}
