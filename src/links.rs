//! The addresses Kalends hands out that the JSON API and the console both show: a feed's secret
//! URL, and a staff member's one-time settings link.

use kalends_core::config::SecretKeys;
use kalends_core::domain::Feed;
use kalends_core::tokens;
use kalends_service::staff_sessions::{self, SettingsLink};
use kalends_store::StoreError;
use uuid::Uuid;

use crate::state::AppState;

/// How long a settings link asked for through the API or the console works.
const SETTINGS_LINK_MINUTES: i64 = 15;

/// The feed's public URL (`{public_url}/ical/{token}.ics`).
pub fn feed_url(state: &AppState, feed: &Feed) -> String {
    let token = feed_url_token(feed, &state.secret_key);
    format!("{}/ical/{token}.ics", state.config.public_base())
}

/// The token of the feed's URL, as `tokens::shown_token` finds it among the configured keys
/// (rotating the feed gives it a new URL once none of them made it).
fn feed_url_token(feed: &Feed, keys: &SecretKeys) -> String {
    tokens::shown_token(keys, &feed.token_hash, |key| tokens::feed_token(key, feed.id, &feed.nonce))
}

/// A fresh one-time settings link for a staff member, valid 15 minutes (the API and the console
/// alike); the sessions their older links opened end.
pub async fn settings_link(
    state: &AppState,
    tenant_id: Uuid,
    staff_id: Uuid,
) -> Result<SettingsLink, StoreError> {
    let lifetime = chrono::Duration::minutes(SETTINGS_LINK_MINUTES);
    let (key, public_url) = (state.secret_key.current(), &state.config.public_url);
    staff_sessions::new_link(&state.store, key, public_url, tenant_id, staff_id, lifetime).await
}
