//! The control API tests use: faults, a gate holding requests, token expiry, grant revocation, minting tokens, seeding
//! accounts, registering redirect URIs, and reading back what the sandbox holds.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use subtle::ConstantTimeEq as _;

use super::faults::{Gate, GateView};
use super::{Faults, Quota, QuotaView, Sandbox};
use crate::Provider;

/// Lets a request through only with the control token (compared in constant time); 401 else.
pub(super) async fn authorize(
    State(sandbox): State<Sandbox>,
    request: Request,
    next: Next,
) -> Response {
    let expected = sandbox.control_token();
    let offered = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    if bool::from(expected.expose_secret().as_bytes().ct_eq(offered.as_bytes())) {
        return next.run(request).await;
    }
    let body =
        "the sandbox control API needs `Authorization: Bearer <token>` (printed at start-up)";
    (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response()
}

/// Routes under `/_control`.
pub(super) fn router() -> Router<Sandbox> {
    Router::new()
        .route("/faults", get(get_faults).put(put_faults))
        .route("/quota", get(get_quota).put(put_quota))
        .route("/hold", get(get_hold).put(put_hold).delete(lift_hold))
        .route("/hold/release", post(release_held))
        .route("/expire-tokens", post(expire_tokens))
        .route("/revoke", post(revoke))
        .route("/grants", get(grants))
        .route("/tokens", post(mint))
        .route("/accounts", get(accounts).post(create_account))
        .route("/clients/redirect-uris", post(add_redirect_uri))
        .route("/requests", get(requests))
        .nest("/google", super::google::control_router())
        .nest("/microsoft", super::microsoft::control_router())
        .nest("/workspace", super::workspace::control_router())
        .nest("/entra", super::entra::control_router())
}

/// `PUT /hold {path}`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldIn {
    /// Requests whose path contains this wait at the gate.
    path: String,
}

/// `POST /hold/release {count}`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseIn {
    count: usize,
}

async fn get_hold(State(sandbox): State<Sandbox>) -> Json<GateView> {
    Json(Gate::view(sandbox.lock().gate.as_ref()))
}

/// Closes a gate before the API requests whose path contains `path` (a gate already there is
/// lifted: what it held goes on).
async fn put_hold(State(sandbox): State<Sandbox>, Json(hold): Json<HoldIn>) -> Json<GateView> {
    let gate = Gate::new(hold.path);
    let mut state = sandbox.lock();
    if let Some(old) = state.gate.replace(gate) {
        old.lift();
    }
    Json(Gate::view(state.gate.as_ref()))
}

/// Lets `count` requests through the gate, the longest waiting first; 404 without a gate.
async fn release_held(
    State(sandbox): State<Sandbox>,
    Json(release): Json<ReleaseIn>,
) -> Result<Json<GateView>, StatusCode> {
    let state = sandbox.lock();
    let gate = state.gate.as_ref().ok_or(StatusCode::NOT_FOUND)?;
    gate.release(release.count);
    Ok(Json(Gate::view(Some(gate))))
}

/// Lifts the gate: everything it held goes on, and nothing more is held.
async fn lift_hold(State(sandbox): State<Sandbox>) -> StatusCode {
    if let Some(gate) = sandbox.lock().gate.take() {
        gate.lift();
    }
    StatusCode::NO_CONTENT
}

async fn get_quota(State(sandbox): State<Sandbox>) -> Json<QuotaView> {
    Json(sandbox.lock().quotas.view())
}

/// Sets the per-user quota (`requests_per_minute`, 0 for none): every user's bucket starts
/// full, and the counts of admitted and limited requests from zero.
async fn put_quota(State(sandbox): State<Sandbox>, Json(quota): Json<Quota>) -> Json<QuotaView> {
    let mut state = sandbox.lock();
    state.quotas.set(quota);
    Json(state.quotas.view())
}

async fn get_faults(State(sandbox): State<Sandbox>) -> Json<Faults> {
    Json(sandbox.lock().faults.clone())
}

async fn put_faults(State(sandbox): State<Sandbox>, Json(faults): Json<Faults>) -> Json<Faults> {
    sandbox.set_faults(faults.clone());
    Json(faults)
}

/// Optional filter by account address.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ExpireIn {
    email: Option<String>,
}

/// Ends the life of the access tokens of `email`'s account, or of every account and every
/// application (the organisations' application tokens too).
async fn expire_tokens(
    State(sandbox): State<Sandbox>,
    body: Option<Json<ExpireIn>>,
) -> Json<serde_json::Value> {
    let email = body.and_then(|Json(body)| body.email);
    let mut state = sandbox.lock();
    let mut expired = state.oauth.expire_access_tokens(email.as_deref(), Utc::now());
    if email.is_none() {
        expired += state.entra.expire_app_tokens(Utc::now());
    }
    Json(serde_json::json!({ "expired": expired }))
}

/// An account of a provider.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountIn {
    provider: Provider,
    email: String,
}

async fn revoke(
    State(sandbox): State<Sandbox>,
    Json(body): Json<AccountIn>,
) -> Json<serde_json::Value> {
    let revoked = sandbox.lock().oauth.revoke_account(body.provider, &body.email);
    Json(serde_json::json!({ "revoked": revoked }))
}

async fn grants(State(sandbox): State<Sandbox>) -> Response {
    Json(sandbox.lock().oauth.grants()).into_response()
}

async fn mint(
    State(sandbox): State<Sandbox>,
    Json(body): Json<AccountIn>,
) -> Json<serde_json::Value> {
    let mut state = sandbox.lock();
    let account = state.ensure_account(body.provider, &body.email);
    let client_id = match body.provider {
        Provider::Google => state.config.google.client_id.clone(),
        Provider::Microsoft => state.config.microsoft.client_id.clone(),
    };
    let lifetime = chrono::Duration::from_std(state.config.access_token_lifetime)
        .unwrap_or(chrono::Duration::hours(1));
    let (access, refresh) =
        state.oauth.mint(body.provider, &account.email, &client_id, lifetime, Utc::now());
    Json(serde_json::json!({
        "access_token": access, "refresh_token": refresh, "email": account.email,
        "expires_in": lifetime.num_seconds(),
    }))
}

async fn accounts(State(sandbox): State<Sandbox>) -> Json<serde_json::Value> {
    let state = sandbox.lock();
    let mut list: Vec<_> = state
        .accounts
        .iter()
        .map(|((provider, _), account)| serde_json::json!({"provider": provider, "email": account.email, "name": account.name}))
        .collect();
    list.sort_by_key(|value| value.to_string());
    Json(serde_json::Value::Array(list))
}

async fn create_account(State(sandbox): State<Sandbox>, Json(body): Json<AccountIn>) -> Response {
    let account = sandbox.lock().ensure_account(body.provider, &body.email);
    (StatusCode::CREATED, Json(account)).into_response()
}

/// A redirect URI to accept for a provider's client.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedirectIn {
    provider: Provider,
    redirect_uri: String,
}

async fn add_redirect_uri(
    State(sandbox): State<Sandbox>,
    Json(body): Json<RedirectIn>,
) -> StatusCode {
    let mut state = sandbox.lock();
    let client = match body.provider {
        Provider::Google => &mut state.config.google,
        Provider::Microsoft => &mut state.config.microsoft,
    };
    if !client.redirect_uris.contains(&body.redirect_uri) {
        client.redirect_uris.push(body.redirect_uri);
    }
    StatusCode::NO_CONTENT
}

async fn requests(State(sandbox): State<Sandbox>) -> Json<serde_json::Value> {
    let state = sandbox.lock();
    Json(serde_json::to_value(&state.requests).unwrap_or_default())
}
