//! A feed's fields (`POST /api/v1/feeds` and the console's new-feed form).

use kalends_core::domain::{FeedProfile, FeedScope, NewFeed, Owner, Platform};
use uuid::Uuid;

use super::FieldError;
use super::fields::Checker;

/// A feed to publish as submitted.
#[derive(Clone, Copy, Debug)]
pub struct FeedFields<'a> {
    /// `resource`, `staff` or `tenant`.
    pub scope: &'a str,
    /// The resource or staff member (not for `tenant`).
    pub scope_id: Option<Uuid>,
    /// `busy` or `details`.
    pub profile: &'a str,
    /// The calendar's name as subscribers see it.
    pub name: &'a str,
    /// The platform that will subscribe, whose own events the feed leaves out.
    pub platform: Option<&'a str>,
    /// Whether tentative bookings appear (default true).
    pub include_tentative: Option<bool>,
}

/// The feed to publish, or every field's problem at once.
pub fn new_feed(fields: FeedFields<'_>) -> Result<NewFeed, Vec<FieldError>> {
    let mut c = Checker::default();
    let scope = scope(&mut c, fields.scope, fields.scope_id);
    let profile = FeedProfile::parse(fields.profile);
    if profile.is_none() {
        c.fail("profile", "must be busy or details");
    }
    let platform = fields.platform.and_then(|p| {
        let parsed = Platform::parse(p);
        if parsed.is_none() {
            c.fail("platform", "must be airbnb, vrbo, booking_com, google, outlook or other");
        }
        parsed
    });
    let name = c.text("name", fields.name, 200);
    c.finish(|| NewFeed {
        scope: scope.expect("checked"),
        profile: profile.expect("checked"),
        name,
        platform,
        include_tentative: fields.include_tentative.unwrap_or(true),
    })
}

/// What the feed covers: the whole tenant, or one resource or staff member.
fn scope(c: &mut Checker, scope: &str, id: Option<Uuid>) -> Option<FeedScope> {
    match (scope, id) {
        ("tenant", None) => Some(FeedScope::Tenant),
        ("tenant", Some(_)) => {
            c.fail("scope_id", "a tenant feed covers everything: leave scope_id out");
            None
        }
        ("resource", Some(id)) => Some(FeedScope::Owner(Owner::Resource(id))),
        ("staff", Some(id)) => Some(FeedScope::Owner(Owner::Staff(id))),
        ("resource" | "staff", None) => {
            c.fail("scope_id", "required for a resource or staff feed");
            None
        }
        _ => {
            c.fail("scope", "must be resource, staff or tenant");
            None
        }
    }
}
