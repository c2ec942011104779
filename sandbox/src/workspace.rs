//! Google Workspace as its administrator sets it up for an organisation-wide connection: service
//! accounts (the public half of each key), the domain-wide delegation the Admin console grants a
//! service account's client id (Security > Access and data control > API controls > Domain-wide
//! delegation: a list of scopes), and the directory of users (the Admin SDK Directory API's
//! `users.list`, at its real path below `/google/admin/directory/v1/`).
//!
//! The token endpoint takes the JWT-bearer grant (RFC 7523, Google's "OAuth 2.0 for server to
//! server applications") for a delegated user: an RS256 assertion signed with the service
//! account's key (its `kid`, when given, the key's id), `iss` the service account, `aud` the token endpoint
//! the key names, `sub` the user, `scope` what is asked, and at most an hour between `iat` and
//! `exp`. Every check Google documents is made, with Google's error and words; where Google's
//! behaviour is not documented the sandbox is stricter (every scope asked must be delegated, a
//! suspended user is refused). A service account's own token (no `sub`) is not modelled.
//!
//! The tokens it mints are the user's, like a consent's: the calendar API serves that user's
//! calendars with them, and the directory serves an administrator holding the directory scope.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Sandbox, State as SandboxState, google_error};
use crate::Provider;

/// The JWT-bearer grant's `grant_type`.
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The scope the directory's `users.list` needs (or the read-write `admin.directory.user`).
pub const DIRECTORY_SCOPE: &str = "https://www.googleapis.com/auth/admin.directory.user.readonly";
const DIRECTORY_WRITE_SCOPE: &str = "https://www.googleapis.com/auth/admin.directory.user";

/// The longest an assertion may live (`exp - iat`), in seconds.
const MAX_ASSERTION_SECONDS: i64 = 3600;
/// How far the clocks of the signer and the sandbox may disagree, in seconds.
const CLOCK_SKEW_SECONDS: i64 = 60;
/// `users.list`'s page size unless `maxResults` asks otherwise, and the most it allows.
const PAGE: usize = 100;
const MAX_PAGE: usize = 500;

/// What the Workspace administrator has set up.
#[derive(Debug, Default)]
pub(crate) struct Data {
    /// By `client_email`.
    service_accounts: HashMap<String, ServiceAccount>,
    /// Domain-wide delegation: a service account's client id and the scopes it may ask for a
    /// user.
    delegations: HashMap<String, Vec<String>>,
    /// The directory, by lower-case primary e-mail.
    users: HashMap<String, DirectoryUser>,
    next_user_id: u64,
}

/// A service account as its key names it, with the public half of that key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServiceAccount {
    /// `client_email` (the assertion's `iss`).
    pub client_email: String,
    /// `client_id`: what domain-wide delegation is granted to.
    pub client_id: String,
    /// `private_key_id`: the assertion's `kid`.
    pub private_key_id: String,
    /// The public key, PEM (`-----BEGIN PUBLIC KEY-----`).
    pub public_key_pem: String,
    /// `token_uri`: the token endpoint the key names, which the assertion's `aud` must be.
    pub token_uri: String,
}

/// A user of the directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DirectoryUser {
    /// `primaryEmail`.
    pub primary_email: String,
    /// `name.fullName` (from the address when not given).
    #[serde(default)]
    pub name: Option<String>,
    /// `orgUnitPath` (`/` by default).
    #[serde(default = "root_unit")]
    pub org_unit_path: String,
    /// `isAdmin`: may read the directory.
    #[serde(default)]
    pub is_admin: bool,
    /// A delegated administrator's organisational units (an admin role whose privileges are
    /// given for those units, and so the ones below them): `users.list` shows only the users
    /// in them, and `users.get` refuses anyone else with 403, as Google does. Empty: the rights
    /// reach the whole Workspace.
    #[serde(default)]
    pub admin_units: Vec<String>,
    /// `suspended`: listed, but no token is issued for them.
    #[serde(default)]
    pub suspended: bool,
    /// `id`, given by the sandbox (kept when the user is written again).
    #[serde(default)]
    pub id: String,
    /// `aliases`: former primary addresses, which still receive mail but no longer sign in.
    #[serde(default)]
    pub aliases: Vec<String>,
}

fn root_unit() -> String {
    "/".into()
}

impl Data {
    /// Adds or replaces a user, keeping the id of one already there; the user as stored.
    fn put_user(&mut self, mut user: DirectoryUser) -> DirectoryUser {
        let key = user.primary_email.to_ascii_lowercase();
        user.id = match self.users.get(&key) {
            Some(existing) => {
                if user.aliases.is_empty() {
                    user.aliases.clone_from(&existing.aliases);
                }
                existing.id.clone()
            }
            None => {
                self.next_user_id += 1;
                format!("1{:020}", self.next_user_id)
            }
        };
        self.users.insert(key, user.clone());
        user
    }

    /// Whether `email` is a user of the directory who may sign in.
    fn active_user(&self, email: &str) -> Option<&DirectoryUser> {
        self.users.get(&email.to_ascii_lowercase()).filter(|u| !u.suspended)
    }

    /// Whether the administrator `admin`'s rights reach `user` (their unit is one the rights
    /// are given for, or below one).
    fn reaches(&self, admin: &str, user: &DirectoryUser) -> bool {
        self.active_user(admin).is_some_and(|admin| {
            admin.admin_units.is_empty()
                || admin.admin_units.iter().any(|unit| within(&user.org_unit_path, unit))
        })
    }
}

/// A refused grant: the status, Google's `error` and its `error_description`.
pub(crate) struct Refused(pub StatusCode, pub &'static str, pub String);

fn invalid_grant(description: &str) -> Refused {
    Refused(StatusCode::BAD_REQUEST, "invalid_grant", description.to_owned())
}

/// The claims of an assertion that the grant reads.
#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    #[serde(default)]
    aud: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    iat: i64,
    exp: i64,
}

/// The header fields the grant reads.
#[derive(Debug, Deserialize)]
struct JwtHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// Google's words for an assertion whose times are wrong (or missing, or unreadable).
const TIMEFRAME: &str = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.";

/// A JWT segment's JSON. Base64url with or without padding: Google accepts both, and Google's
/// own libraries (yup-oauth2 among them) pad.
fn segment<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    use base64::Engine as _;
    let bytes =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The JWT-bearer grant: checks `assertion` and, for a delegated user, mints their token.
pub(crate) fn jwt_bearer(
    state: &mut SandboxState,
    assertion: Option<&str>,
) -> Result<Value, Refused> {
    let (account, claims) = verified(state, assertion)?;
    let scopes: Vec<String> =
        claims.scope.unwrap_or_default().split_whitespace().map(str::to_owned).collect();
    if scopes.is_empty() {
        return Err(Refused(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "Empty or missing scope not allowed.".into(),
        ));
    }
    let Some(user) = claims.sub else {
        return Err(Refused(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the sandbox models domain-wide delegation only: name the user in `sub`".into(),
        ));
    };
    let delegated = state.workspace.delegations.get(&account.client_id);
    if !scopes.iter().all(|scope| delegated.is_some_and(|granted| granted.contains(scope))) {
        return Err(Refused(
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.".into(),
        ));
    }
    let Some(user) =
        state.workspace.active_user(&user).map(|u| u.primary_email.to_ascii_lowercase())
    else {
        return Err(invalid_grant("Invalid email or User ID"));
    };
    let lifetime =
        Duration::from_std(state.config.access_token_lifetime).unwrap_or(Duration::hours(1));
    let grant = state.oauth.new_grant(Provider::Google, &user, &account.client_id, scopes);
    let token = state.oauth.new_access_token(&grant, lifetime, Utc::now());
    state.ensure_account(Provider::Google, &user);
    Ok(json!({"access_token": token, "expires_in": lifetime.num_seconds(), "token_type": "Bearer"}))
}

/// The service account that signed `assertion`, and its claims, once the signature, the
/// audience and the times are checked.
fn verified(
    state: &SandboxState,
    assertion: Option<&str>,
) -> Result<(ServiceAccount, Claims), Refused> {
    let assertion = assertion.ok_or_else(|| {
        Refused(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: assertion".into(),
        )
    })?;
    let parts: Vec<&str> = assertion.split('.').collect();
    let [head, body, signature] = parts[..] else {
        return Err(invalid_grant(TIMEFRAME));
    };
    let header: JwtHeader = segment(head).ok_or_else(|| invalid_grant(TIMEFRAME))?;
    // Who signed it decides which key checks it; nothing else of the claims is trusted until the
    // signature is.
    let claims: Claims = segment(body).ok_or_else(|| invalid_grant(TIMEFRAME))?;
    if header.alg != "RS256" {
        return Err(invalid_grant("Invalid JWT Signature."));
    }
    let Some(account) = state.workspace.service_accounts.get(&claims.iss).cloned() else {
        return Err(invalid_grant("Invalid grant: account not found"));
    };
    // The key id is optional (Google's own libraries leave it out); one that names another key
    // is refused.
    if header.kid.as_deref().is_some_and(|kid| kid != account.private_key_id) {
        return Err(invalid_grant("Invalid JWT Signature."));
    }
    let key = DecodingKey::from_rsa_pem(account.public_key_pem.as_bytes())
        .map_err(|_| invalid_grant("Invalid JWT Signature."))?;
    // Signed over the first two segments as they were sent.
    let signed = &assertion[..head.len() + 1 + body.len()];
    let signature = signature.trim_end_matches('=');
    if !jsonwebtoken::crypto::verify(signature, signed.as_bytes(), &key, Algorithm::RS256)
        .unwrap_or(false)
    {
        return Err(invalid_grant("Invalid JWT Signature."));
    }
    if claims.aud.as_deref() != Some(account.token_uri.as_str()) {
        return Err(invalid_grant("Invalid JWT: Failed audience check."));
    }
    let now = Utc::now().timestamp();
    let skew = CLOCK_SKEW_SECONDS;
    let expired = claims.exp <= now - skew;
    if expired || claims.exp - claims.iat > MAX_ASSERTION_SECONDS || claims.iat > now + skew {
        return Err(invalid_grant(TIMEFRAME));
    }
    Ok((account, claims))
}

/// The directory API (nested at `/google/admin/directory/v1`).
pub(super) fn router() -> Router<Sandbox> {
    Router::new().route("/users", get(list_users)).route("/users/{key}", get(get_user))
}

/// `users.list`'s query.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    domain: Option<String>,
    customer: Option<String>,
    query: Option<String>,
    max_results: Option<usize>,
    page_token: Option<String>,
}

async fn list_users(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    let mut state = sandbox.lock();
    state.count("GET google directory users.list");
    let caller = match administrator(&state, &headers) {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let domain = match (&query.domain, &query.customer) {
        (Some(domain), _) => domain.to_ascii_lowercase(),
        // `my_customer`: the caller's own domain (one domain per customer here).
        (None, Some(_)) => caller.email.rsplit('@').next().unwrap_or_default().to_owned(),
        (None, None) => {
            return google_error(StatusCode::BAD_REQUEST, "badRequest", "Bad Request", None);
        }
    };
    // The customer's domains are its users' (one customer here); Google knows no other.
    let at_domain = format!("@{domain}");
    if !state
        .workspace
        .users
        .values()
        .any(|u| u.primary_email.to_ascii_lowercase().ends_with(&at_domain))
    {
        return google_error(StatusCode::NOT_FOUND, "notFound", "Domain not found.", None);
    }
    let unit = match query.query.as_deref().map(org_unit_of_query) {
        Some(Ok(unit)) => Some(unit),
        Some(Err(())) => {
            return google_error(StatusCode::BAD_REQUEST, "invalid", "Invalid Input", None);
        }
        None => None,
    };
    // A unit the Workspace does not have is refused, as Google does (units exist here where
    // users are; the top unit always).
    if let Some(unit) = unit
        .as_deref()
        .filter(|unit| !state.workspace.users.values().any(|u| within(&u.org_unit_path, unit)))
    {
        let message = format!("Invalid Input: INVALID_OU_ID - {unit}");
        return google_error(StatusCode::BAD_REQUEST, "invalid", &message, None);
    }
    let mut users: Vec<&DirectoryUser> = state
        .workspace
        .users
        .values()
        .filter(|u| u.primary_email.to_ascii_lowercase().ends_with(&at_domain))
        .filter(|u| unit.as_deref().is_none_or(|unit| within(&u.org_unit_path, unit)))
        .filter(|u| state.workspace.reaches(&caller.email, u))
        .collect();
    users.sort_by(|a, b| a.primary_email.cmp(&b.primary_email));
    let size = query.max_results.unwrap_or(PAGE).clamp(1, MAX_PAGE);
    let start: usize = query.page_token.as_deref().and_then(|t| t.parse().ok()).unwrap_or(0);
    let page: Vec<Value> = users.iter().skip(start).take(size).map(|u| user_resource(u)).collect();
    let mut body = json!({"kind": "admin#directory#users", "users": page});
    if start + size < users.len() {
        body["nextPageToken"] = json!((start + size).to_string());
    }
    Json(body).into_response()
}

/// `users.get`: one user by id, primary address or alias, wherever they are in the Workspace.
async fn get_user(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Response {
    let mut state = sandbox.lock();
    state.count("GET google directory users.get");
    let caller = match administrator(&state, &headers) {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let key = key.to_ascii_lowercase();
    let found = state.workspace.users.values().find(|u| {
        u.id == key
            || u.primary_email.eq_ignore_ascii_case(&key)
            || u.aliases.iter().any(|alias| alias.eq_ignore_ascii_case(&key))
    });
    match found {
        Some(user) if !state.workspace.reaches(&caller.email, user) => google_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Not Authorized to access this resource/api",
            None,
        ),
        Some(user) => Json(user_resource(user)).into_response(),
        None => {
            google_error(StatusCode::NOT_FOUND, "notFound", "Resource Not Found: userKey", None)
        }
    }
}

/// The caller of a directory read, when the token is good, carries a directory scope and is an
/// administrator's who may sign in; else Google's refusal.
#[allow(clippy::result_large_err, reason = "handlers answer refusals as ready responses")]
fn administrator(state: &SandboxState, headers: &HeaderMap) -> Result<super::Account, Response> {
    let caller = state.authenticate(Provider::Google, headers, Utc::now())?;
    let token = bearer(headers).unwrap_or_default();
    let scopes = state.oauth.scopes_of_access_token(token).unwrap_or_default();
    if !scopes.iter().any(|s| s == DIRECTORY_SCOPE || s == DIRECTORY_WRITE_SCOPE) {
        return Err(google_error(
            StatusCode::FORBIDDEN,
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
            None,
        ));
    }
    if !state.workspace.active_user(&caller.email).is_some_and(|u| u.is_admin) {
        return Err(google_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Not Authorized to access this resource/api",
            None,
        ));
    }
    Ok(caller)
}

/// A user as the directory API shows one.
fn user_resource(u: &DirectoryUser) -> Value {
    json!({
        "kind": "admin#directory#user",
        "id": u.id,
        "primaryEmail": u.primary_email,
        "name": {"fullName": u.name.clone().unwrap_or_else(|| super::display_name(&u.primary_email))},
        "orgUnitPath": u.org_unit_path,
        "isAdmin": u.is_admin,
        "suspended": u.suspended,
        "aliases": u.aliases,
    })
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
}

/// The unit of a `query` of the form `orgUnitPath='/Staff'`, a quote or backslash in it escaped
/// with a backslash as Google's query syntax asks (or `orgUnitPath=/Staff`, without quotes or
/// spaces); any other query is refused (the sandbox reads no other field).
fn org_unit_of_query(query: &str) -> Result<String, ()> {
    let value = query.trim().strip_prefix("orgUnitPath=").ok_or(())?;
    let unit = match value.strip_prefix('\'') {
        Some(quoted) => {
            let (mut unit, mut chars) = (String::new(), quoted.chars());
            loop {
                match chars.next().ok_or(())? {
                    '\\' => unit.push(chars.next().ok_or(())?),
                    '\'' if chars.as_str().is_empty() => break unit,
                    '\'' => return Err(()),
                    c => unit.push(c),
                }
            }
        }
        None if value.contains([' ', '\'']) => return Err(()),
        None => value.to_owned(),
    };
    unit.starts_with('/').then_some(unit).ok_or(())
}

/// Whether a user in `path` is within `unit` (the unit itself or one below it).
fn within(path: &str, unit: &str) -> bool {
    let unit = unit.trim_end_matches('/');
    unit.is_empty() || path == unit || path.starts_with(&format!("{unit}/"))
}

/// The example organisation's service account, as its key names it.
pub const EXAMPLE_SERVICE_ACCOUNT: &str = "kalends@salon-123.iam.gserviceaccount.com";
/// Its client id (what domain-wide delegation is granted to).
pub const EXAMPLE_CLIENT_ID: &str = "104857600000000000001";
/// Its key id.
pub const EXAMPLE_KEY_ID: &str = "3f1c2e";

/// Sets up the example organisation, `salon.example`: the service account (its public key
/// `public_key_pem`, its key naming `token_uri`) with no delegation yet, and a directory of an
/// administrator (`admin@`, unit `/`) and three staff members, `ann@` in `/Staff`, `bo@` in
/// `/Staff/Juniors` and `cy@` in `/Office`.
pub fn seed_example(sandbox: &Sandbox, public_key_pem: &str, token_uri: &str) {
    let mut state = sandbox.lock();
    let account = ServiceAccount {
        client_email: EXAMPLE_SERVICE_ACCOUNT.into(),
        client_id: EXAMPLE_CLIENT_ID.into(),
        private_key_id: EXAMPLE_KEY_ID.into(),
        public_key_pem: public_key_pem.into(),
        token_uri: token_uri.into(),
    };
    state.workspace.service_accounts.insert(account.client_email.clone(), account);
    for (email, unit, is_admin) in [
        ("admin@salon.example", "/", true),
        ("ann@salon.example", "/Staff", false),
        ("bo@salon.example", "/Staff/Juniors", false),
        ("cy@salon.example", "/Office", false),
    ] {
        let user = DirectoryUser {
            primary_email: email.into(),
            name: None,
            org_unit_path: unit.into(),
            is_admin,
            admin_units: Vec::new(),
            suspended: false,
            id: String::new(),
            aliases: Vec::new(),
        };
        state.workspace.put_user(user);
    }
}

/// Control routes (nested at `/_control/workspace`): what the administrator sets up.
pub(super) fn control_router() -> Router<Sandbox> {
    Router::new()
        .route("/service-accounts", post(add_service_account))
        .route("/delegations/{client_id}", put(set_delegation))
        .route("/users", get(users).post(put_user))
        .route("/users/{email}", axum::routing::delete(remove_user))
        .route("/users/{email}/rename", post(rename_user))
}

async fn add_service_account(
    State(sandbox): State<Sandbox>,
    Json(account): Json<ServiceAccount>,
) -> Response {
    if DecodingKey::from_rsa_pem(account.public_key_pem.as_bytes()).is_err() {
        let body = json!({"error": "public_key_pem is not an RSA public key in PEM"});
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
    }
    let mut state = sandbox.lock();
    state.workspace.service_accounts.insert(account.client_email.clone(), account);
    StatusCode::CREATED.into_response()
}

#[derive(Deserialize)]
struct Delegation {
    scopes: Vec<String>,
}

/// Grants (or, with no scopes, takes back) domain-wide delegation to a client id.
async fn set_delegation(
    State(sandbox): State<Sandbox>,
    Path(client_id): Path<String>,
    Json(delegation): Json<Delegation>,
) -> StatusCode {
    let mut state = sandbox.lock();
    if delegation.scopes.is_empty() {
        state.workspace.delegations.remove(&client_id);
    } else {
        state.workspace.delegations.insert(client_id, delegation.scopes);
    }
    StatusCode::NO_CONTENT
}

async fn users(State(sandbox): State<Sandbox>) -> Json<Vec<DirectoryUser>> {
    let state = sandbox.lock();
    let mut users: Vec<DirectoryUser> = state.workspace.users.values().cloned().collect();
    users.sort_by(|a, b| a.primary_email.cmp(&b.primary_email));
    Json(users)
}

/// Adds a user to the directory, or changes one (a move to another unit, a suspension).
async fn put_user(State(sandbox): State<Sandbox>, Json(user): Json<DirectoryUser>) -> Response {
    let user = sandbox.lock().workspace.put_user(user);
    (StatusCode::OK, Json(user)).into_response()
}

#[derive(Deserialize)]
struct Rename {
    primary_email: String,
}

/// Changes a user's primary address as the Admin console's "Rename user" does: the same user
/// (id, unit, calendar and events) under the new address, the old one kept as an alias that no
/// longer signs in. 404 for an unknown user, 409 for an address another user has.
async fn rename_user(
    State(sandbox): State<Sandbox>,
    Path(email): Path<String>,
    Json(rename): Json<Rename>,
) -> Response {
    let (old, new) = (email.to_ascii_lowercase(), rename.primary_email.to_ascii_lowercase());
    let mut state = sandbox.lock();
    if state.workspace.users.contains_key(&new) {
        let body = json!({"error": "the address belongs to another user"});
        return (StatusCode::CONFLICT, Json(body)).into_response();
    }
    let Some(mut user) = state.workspace.users.remove(&old) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    user.aliases.push(user.primary_email.clone());
    user.primary_email.clone_from(&rename.primary_email);
    state.workspace.users.insert(new.clone(), user.clone());
    if let Some(mut account) = state.accounts.remove(&(Provider::Google, old.clone())) {
        account.email.clone_from(&new);
        state.accounts.insert((Provider::Google, new.clone()), account);
    }
    state.google.rename_account(&old, &new);
    state.oauth.rename_account(Provider::Google, &old, &new);
    (StatusCode::OK, Json(user)).into_response()
}

async fn remove_user(State(sandbox): State<Sandbox>, Path(email): Path<String>) -> StatusCode {
    let mut state = sandbox.lock();
    match state.workspace.users.remove(&email.to_ascii_lowercase()) {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::NOT_FOUND,
    }
}

#[cfg(test)]
mod tests;
