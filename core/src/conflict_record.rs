//! A conflict as Kalends records it, from detection to resolution: what the API, the console and
//! the webhook events show. Finding conflicts is [`crate::conflicts`]; storing them is the store's.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::availability::Rule;
use crate::conflicts::{Severity, Source};
use crate::domain::Owner;

/// One side of a conflict, as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictItem {
    /// Where it comes from.
    pub kind: Source,
    /// Its id.
    pub id: Uuid,
    /// A human label.
    pub label: String,
}

/// What a conflict is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConflictKind {
    /// Two busy items overlap (or touch): found and resolved by the detection passes.
    Overlap,
    /// A staff member moved or deleted a booking's event by hand and the tenant's
    /// `external_edit_policy` is `accept`: left as is for a person to decide.
    ExternalEdit,
    /// A booking breaks an availability rule of its resource or staff member (saved without
    /// `?reject_conflicts=true`): found and resolved by the pass after each booking change.
    Rule,
}

impl ConflictKind {
    /// The API and column name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Overlap => "overlap",
            Self::ExternalEdit => "external_edit",
            Self::Rule => "rule",
        }
    }

    /// Reads [`ConflictKind::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "overlap" => Some(Self::Overlap),
            "external_edit" => Some(Self::ExternalEdit),
            "rule" => Some(Self::Rule),
            _ => None,
        }
    }
}

/// A recorded conflict.
#[derive(Clone, Debug)]
pub struct Conflict {
    /// Its id.
    pub id: Uuid,
    /// An overlap, an external edit or a broken rule.
    pub kind: ConflictKind,
    /// For a conflict of kind [`ConflictKind::Rule`]: the rule the booking breaks.
    pub rule: Option<Rule>,
    /// Whose calendar it is in.
    pub owner: Owner,
    /// Where the items overlap.
    pub start: DateTime<Utc>,
    /// Likewise.
    pub end: DateTime<Utc>,
    /// How bad it is.
    pub severity: Severity,
    /// The two items.
    pub items: Vec<ConflictItem>,
    /// What to do about it.
    pub suggestion: String,
    /// Still a problem?
    pub open: bool,
    /// When it was found.
    pub detected_at: DateTime<Utc>,
    /// When it ended.
    pub resolved_at: Option<DateTime<Utc>>,
    /// `auto` (the items stopped overlapping) or `manual` (someone resolved it).
    pub resolution: Option<String>,
    /// The note given with a manual resolution.
    pub note: Option<String>,
}
