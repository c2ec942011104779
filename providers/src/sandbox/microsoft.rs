//! Calendar API emulation for microsoft (filled in by the calendar work).

use axum::Router;

use super::{Account, Sandbox};

/// Calendars and events of every microsoft account.
#[derive(Debug, Default)]
pub(crate) struct Data {}

impl Data {
    /// Gives a new account its default calendars.
    pub(crate) fn create_account(&mut self, _account: &Account) {}
}

/// API routes.
pub(super) fn router() -> Router<Sandbox> {
    Router::new()
}

/// Control routes.
pub(super) fn control_router() -> Router<Sandbox> {
    Router::new()
}
