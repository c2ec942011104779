//! Microsoft Entra ID as an administrator sets it up for app-only access to a Microsoft 365
//! organisation: app registrations with the application permissions an administrator consented
//! to (the token's `roles`), the Exchange administrator's scoping of an application to a
//! mail-enabled security group (an application access policy, or RBAC for Applications), the
//! directory's users and groups.
//!
//! - The token endpoint takes the client-credentials grant (`grant_type=client_credentials`,
//!   `scope=https://graph.microsoft.com/.default`) at the tenant's own authority, with
//!   Microsoft's AADSTS errors for an unknown tenant, application or secret and a scope
//!   without `/.default`.
//! - Graph serves `GET /users` and `GET /groups/{id}/members` to an application holding a
//!   directory permission, and every calendar path below `/users/{id or userPrincipalName}/`
//!   as it serves `/me/`, once the application's token holds `Calendars.Read` (reads) or
//!   `Calendars.ReadWrite` (writes) and the user is within the application's scope. A token's
//!   permissions are those consented when it was issued (its `roles`), as Graph reads them:
//!   a consent given or taken back later counts from the next token. Outside the scope
//!   Graph answers 403 `ErrorAccessDenied` with the access policy's words. Subscriptions on
//!   `users/{id}/events` are made and renewed the same way.
//! - RBAC for Applications: Exchange's own role assignments (`Application Calendars.Read`,
//!   `Application Calendars.ReadWrite`), each scoped to a group's members or to everyone,
//!   grant calendar access with no permission in the token, read live at every call, and add
//!   to what Entra consented (as Microsoft documents: the two are a union). A mailbox neither
//!   grants is refused with the plain 403 `ErrorAccessDenied`.
//! - An application token is not a user's: `/me` refuses it, as Graph does.
//! - A user without an Exchange Online mailbox (no licence with Exchange: a service account,
//!   an unlicensed user) is listed with no `mail` and no enabled `exchange` plan in
//!   `assignedPlans`; their calendar paths answer 404 `MailboxNotEnabledForRESTAPI`. So do
//!   those of a licensed user whose mailbox is on the organisation's own Exchange server
//!   (`on_premises`, a hybrid deployment).
//! - The directory's listings answer the properties `$select` names (their next pages too),
//!   else Graph's default set, which leaves `assignedPlans` out.
//! - A group's members are users the application reads only with a permission on users
//!   (`User.Read.All`, `Directory.Read.All`; `User.ReadBasic.All` for the basic profile):
//!   holding `GroupMember.Read.All` alone, it gets each member's `id` and nothing else, as Graph
//!   answers "inaccessible member objects".
//!
//! The calendar handlers are the `/me` ones ([`super::microsoft`]); [`act_for`] checks the
//! application and rewrites the request before routing, and rewrites the links of the answer
//! (`@odata.nextLink`, `@odata.deltaLink`) back to the `/users/{id}/` form the client asked
//! with.

use std::collections::{BTreeSet, HashMap};

use axum::body::Body;
use axum::extract::{OriginalUri, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::microsoft::Base;
use super::{Sandbox, State as SandboxState, graph_error, random_token};
use crate::Provider;

/// The header [`act_for`] hands the `/me` handlers the mailbox in (removed from every request
/// that arrives, so no client can set it).
pub(crate) const ACTING_FOR: &str = "x-sandbox-acting-for";

/// The scope of the client-credentials grant for Graph.
pub const GRAPH_DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";

/// Where Graph is mounted below the sandbox's root.
const GRAPH: &str = "/microsoft/v1.0";

/// `GET /users`'s page size unless `$top` asks otherwise, and the most `$top` may ask.
const PAGE: usize = 100;
const MAX_PAGE: usize = 999;

/// The access policy's refusal, in Exchange's words.
const OUTSIDE_SCOPE: &str = "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.";

/// What the tenant's administrator has set up.
#[derive(Debug, Default)]
pub(crate) struct Data {
    /// App registrations, by application (client) id.
    apps: HashMap<String, App>,
    /// The directory, by lower-case userPrincipalName.
    users: HashMap<String, EntraUser>,
    /// Security groups: id -> member user ids.
    groups: HashMap<String, BTreeSet<String>>,
    /// Application tokens issued: token -> its application and expiry.
    tokens: HashMap<String, AppToken>,
}

/// An app registration with its secret, its consented application permissions and its scope.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct App {
    /// The application (client) id.
    pub client_id: String,
    /// A client secret's value (none: the application proves itself with its certificate).
    #[serde(default)]
    pub client_secret: String,
    /// An uploaded certificate (PEM, public): its key checks the client assertions, its SHA-256
    /// thumbprint names it (`x5t#S256`).
    #[serde(default)]
    pub certificate: Option<String>,
    /// Application permissions an administrator consented to (`Calendars.ReadWrite`,
    /// `User.Read.All`, `GroupMember.Read.All`, ...): the token's `roles`.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The mail-enabled security group the Exchange administrator scoped the application to;
    /// `None` reaches every mailbox of the tenant.
    #[serde(default)]
    pub access_group: Option<String>,
    /// Exchange Online's own grants to the application (RBAC for Applications): management
    /// role assignments, read live by Exchange and never written into a token, each granting
    /// a calendar permission on the mailboxes of its scope, whatever Entra consented to.
    #[serde(default)]
    pub exchange_roles: Vec<ExchangeRole>,
}

/// A management role assignment of RBAC for Applications in Exchange Online
/// (`New-ManagementRoleAssignment -App … -Role "Application Calendars.ReadWrite"
/// -CustomResourceScope …`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExchangeRole {
    /// The role: `Application Calendars.Read` or `Application Calendars.ReadWrite`.
    pub role: String,
    /// The management scope, as the members of a mail-enabled security group; `None`: every
    /// mailbox of the organisation.
    #[serde(default)]
    pub group: Option<String>,
}

/// A user of the directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EntraUser {
    /// `userPrincipalName` (also `mail`, unless `mail` is given).
    pub user_principal_name: String,
    /// `mail`, where it differs from the sign-in name (`ann@salon.example` for the user
    /// `ann.b@salon.onmicrosoft.com`, say). As in Graph, `/users/{x}` takes the id or the
    /// userPrincipalName, never the mail address.
    #[serde(default)]
    pub mail: Option<String>,
    /// `displayName` (from the address when not given).
    #[serde(default)]
    pub display_name: Option<String>,
    /// `accountEnabled`.
    #[serde(default = "enabled")]
    pub account_enabled: bool,
    /// `userType`: `Member` (the default), or `Guest` for someone invited from outside the
    /// organisation (their mailbox is elsewhere).
    #[serde(default = "member")]
    pub user_type: String,
    /// Whether Exchange Online holds a mailbox for the user (a licence with Exchange: the
    /// default); without one, Graph has no calendar for them.
    #[serde(default = "enabled")]
    pub mailbox: bool,
    /// Whether the mailbox is hosted on the organisation's own Exchange server (a hybrid
    /// deployment): the licence shows in the directory, and Graph still has no calendar for
    /// them. Also how a mailbox still being set up after its licence was given answers.
    #[serde(default)]
    pub on_premises: bool,
    /// `id`, given by the sandbox: the mailbox's user id.
    #[serde(default)]
    pub id: String,
}

fn enabled() -> bool {
    true
}

fn member() -> String {
    "Member".into()
}

#[derive(Clone, Debug)]
struct AppToken {
    client_id: String,
    /// The permissions consented when it was issued: its `roles` claim.
    roles: Vec<String>,
    expires_at: DateTime<Utc>,
}

impl Data {
    /// The application of a live application token, holding the permissions the token
    /// carries: Graph reads them from its `roles`, fixed when it was issued, so a permission
    /// the administrator consents to (or revokes) later counts from the next token on. The
    /// application's access scope is read live.
    fn app_of(&self, token: &str, now: DateTime<Utc>) -> Option<App> {
        let issued = self.tokens.get(token).filter(|issued| issued.expires_at > now)?;
        let app = self.apps.get(&issued.client_id)?;
        Some(App { roles: issued.roles.clone(), ..app.clone() })
    }

    /// Ends every application token's life at `now` (the control API's token expiry); how
    /// many were live.
    pub(crate) fn expire_app_tokens(&mut self, now: DateTime<Utc>) -> usize {
        let live = self.tokens.values_mut().filter(|issued| issued.expires_at > now);
        live.map(|issued| issued.expires_at = now).count()
    }

    /// Whether the request's bearer token is a live application token.
    pub(crate) fn holds_app_token(&self, headers: &HeaderMap) -> bool {
        bearer(headers).is_some_and(|token| self.app_of(token, Utc::now()).is_some())
    }

    /// A user by id or userPrincipalName.
    fn user(&self, id_or_name: &str) -> Option<&EntraUser> {
        self.users
            .get(&id_or_name.to_ascii_lowercase())
            .or_else(|| self.users.values().find(|user| user.id == id_or_name))
    }

    /// Whether the application may reach the user's mailbox (its access policy).
    fn within_scope(&self, app: &App, user: &EntraUser) -> bool {
        app.access_group.as_ref().is_none_or(|group| self.member_of(group, user))
    }

    fn member_of(&self, group: &str, user: &EntraUser) -> bool {
        self.groups.get(group).is_some_and(|members| members.contains(&user.id))
    }

    /// Whether Exchange grants the application one of `any_of` on the user's mailbox through
    /// RBAC for Applications: a role assignment for the permission whose scope holds them.
    fn exchange_grants(&self, app: &App, any_of: &[&str], user: &EntraUser) -> bool {
        app.exchange_roles.iter().any(|assignment| {
            granted(&assignment.role, any_of)
                && assignment.group.as_deref().is_none_or(|group| self.member_of(group, user))
        })
    }
}

impl App {
    fn holds(&self, any_of: &[&str]) -> bool {
        self.roles.iter().any(|role| any_of.iter().any(|wanted| role.eq_ignore_ascii_case(wanted)))
    }

    /// Whether any of the application's Exchange role assignments grants one of `any_of`,
    /// on some mailbox.
    fn may_be_granted(&self, any_of: &[&str]) -> bool {
        self.exchange_roles.iter().any(|assignment| granted(&assignment.role, any_of))
    }
}

/// Whether the Exchange role `role` (`Application Calendars.ReadWrite`) is one of the
/// permissions `any_of`.
fn granted(role: &str, any_of: &[&str]) -> bool {
    role.strip_prefix("Application ")
        .is_some_and(|permission| any_of.iter().any(|p| permission.eq_ignore_ascii_case(p)))
}

/// A token-endpoint refusal: status, `error`, description, AADSTS number.
pub(crate) struct Refused(pub StatusCode, pub &'static str, pub String, pub u32);

/// How a client proves itself at the token endpoint.
pub(crate) enum Proof<'a> {
    /// Its secret's value.
    Secret(&'a str),
    /// A client assertion (RFC 7523) its certificate signed, and the endpoint it was posted to
    /// (which must be its audience), without the scheme: `host/path`.
    Assertion { jwt: &'a str, endpoint: &'a str },
}

/// The client-credentials grant at `tenant`'s authority.
pub(crate) fn client_credentials(
    state: &mut SandboxState,
    tenant: &str,
    client_id: &str,
    proof: Proof<'_>,
    scope: Option<&str>,
) -> Result<Value, Refused> {
    let known = [super::microsoft::TENANT_ID, super::microsoft::TENANT_DOMAIN];
    if !known.iter().any(|name| tenant.eq_ignore_ascii_case(name)) {
        return Err(Refused(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!(
                "AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
            90002,
        ));
    }
    let Some(app) = state.entra.apps.get(client_id) else {
        return Err(Refused(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            format!(
                "AADSTS700016: Application with identifier '{client_id}' was not found in the directory '{tenant}'."
            ),
            700016,
        ));
    };
    match proof {
        Proof::Assertion { jwt, endpoint } => asserted(app, client_id, jwt, endpoint)?,
        Proof::Secret(secret) if !app.client_secret.is_empty() && secret == app.client_secret => {}
        Proof::Secret(_) => {
            return Err(Refused(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                format!(
                    "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                ),
                7000215,
            ));
        }
    }
    let scope = scope.unwrap_or_default();
    if scope != GRAPH_DEFAULT_SCOPE {
        return Err(Refused(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            format!(
                "AADSTS1002012: The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
            1002012,
        ));
    }
    let lifetime =
        Duration::from_std(state.config.access_token_lifetime).unwrap_or(Duration::hours(1));
    let token = app_token(client_id, &app.roles, lifetime);
    let issued = AppToken {
        client_id: client_id.to_owned(),
        roles: app.roles.clone(),
        expires_at: Utc::now() + lifetime,
    };
    state.entra.tokens.insert(token.clone(), issued);
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": lifetime.num_seconds(),
        "ext_expires_in": lifetime.num_seconds(),
        "access_token": token,
    }))
}

/// An application token shaped as Entra's are: a JWT whose claims name the tenant, the
/// application and its consented permissions (`roles`); its signature is not checked by anyone
/// here.
fn app_token(client_id: &str, roles: &[String], lifetime: Duration) -> String {
    use base64::Engine as _;
    let encode =
        |value: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string());
    let header = encode(json!({"typ": "JWT", "alg": "RS256", "kid": "sandbox"}));
    let claims = encode(json!({
        "aud": "https://graph.microsoft.com",
        "iss": format!("https://sts.windows.net/{}/", super::microsoft::TENANT_ID),
        "tid": super::microsoft::TENANT_ID,
        "appid": client_id,
        "roles": roles,
        "exp": (Utc::now() + lifetime).timestamp(),
    }));
    format!("{header}.{claims}.{}", random_token(64))
}

/// Checks a client assertion as Entra does: signed (RS256) by the application's certificate that
/// its `x5t#S256` names, for this endpoint (`aud`), by and about the application (`iss`, `sub`),
/// within its times, with a `jti`.
fn asserted(app: &App, client_id: &str, jwt: &str, endpoint: &str) -> Result<(), Refused> {
    use jsonwebtoken::errors::ErrorKind;
    let refused = |code: u32, why: &str| {
        let description = format!("AADSTS{code}: {why}");
        Refused(StatusCode::UNAUTHORIZED, "invalid_client", description, code)
    };
    let unknown = "The certificate with identifier used to sign the client assertion is not registered on application.";
    let certificate = app.certificate.as_deref().ok_or_else(|| refused(700027, unknown))?;
    let header = jsonwebtoken::decode_header(jwt)
        .map_err(|_| refused(50027, "JWT token is invalid or malformed."))?;
    let registered = pem::parse(certificate).map(|c| {
        use base64::Engine as _;
        let digest = <sha2::Sha256 as sha2::Digest>::digest(c.contents());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    });
    if header.x5t_s256.is_none() || header.x5t_s256 != registered.ok() {
        return Err(refused(700027, unknown));
    }
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(certificate.as_bytes())
        .map_err(|_| refused(700027, unknown))?;
    let mut rules = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    rules.set_audience(&[format!("http://{endpoint}"), format!("https://{endpoint}")]);
    rules.set_issuer(&[client_id]);
    rules.sub = Some(client_id.to_owned());
    rules.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
    rules.validate_nbf = true;
    let claims = jsonwebtoken::decode::<Value>(jwt, &key, &rules).map_err(|e| match e.kind() {
        ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => {
            refused(700024, "Client assertion is not within its valid time range.")
        }
        ErrorKind::InvalidAudience => {
            refused(700027, "Client assertion contains an invalid audience.")
        }
        ErrorKind::InvalidIssuer | ErrorKind::InvalidSubject => refused(
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        ),
        _ => refused(700027, "Client assertion failed signature validation."),
    })?;
    if claims.claims.get("jti").and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err(refused(50027, "JWT token is invalid or malformed: it has no jti."));
    }
    Ok(())
}

/// Before routing: a Graph call for `/users/{id}/…` (or a subscription of an application) is
/// checked as Entra and Exchange check it and handed to the `/me/…` handlers for that mailbox.
pub(crate) async fn act_for(
    State(sandbox): State<Sandbox>,
    mut request: Request,
    next: Next,
) -> Response {
    request.headers_mut().remove(ACTING_FOR);
    let path = request.uri().path().to_owned();
    let Some(rest) = path.strip_prefix(GRAPH) else {
        return next.run(request).await;
    };
    let method = request.method().clone();
    if let Some(after) = rest.strip_prefix("/users/") {
        let (named, tail) = after.split_once('/').map_or((after, ""), |(id, tail)| (id, tail));
        let named = percent_decoded(named);
        let mailbox = match admit(&sandbox, request.headers(), &named, &method, tail) {
            Ok(mailbox) => mailbox,
            Err(response) => return response,
        };
        let me = if tail.is_empty() { format!("{GRAPH}/me") } else { format!("{GRAPH}/me/{tail}") };
        let user_path = format!("{GRAPH}/users/{}", after.split('/').next().unwrap_or_default());
        // Faults scoped to a path (one mailbox, say) match the path as it was asked for.
        request.extensions_mut().insert(super::faults::AskedPath(path.clone()));
        rewrite_path(&mut request, &path, &me);
        set_acting_for(&mut request, &mailbox);
        let response = next.run(request).await;
        return relink(response, &format!("{GRAPH}/me"), &user_path).await;
    }
    if rest.starts_with("/subscriptions") && app_bearer(&sandbox, request.headers()).is_some() {
        return subscription_for_app(&sandbox, request, rest, next).await;
    }
    next.run(request).await
}

/// The application calling, when the bearer token is a live application token.
fn app_bearer(sandbox: &Sandbox, headers: &HeaderMap) -> Option<App> {
    let token = bearer(headers)?;
    sandbox.lock().entra.app_of(token, Utc::now())
}

/// The mailbox (address) an application may reach at `/users/{named}/{tail}` with `method`.
#[allow(clippy::result_large_err, reason = "the refusal is the ready Graph answer")]
fn admit(
    sandbox: &Sandbox,
    headers: &HeaderMap,
    named: &str,
    method: &Method,
    tail: &str,
) -> Result<String, Response> {
    let mut state = sandbox.lock();
    state.count("GET microsoft users.mailbox");
    let Some(app) = bearer(headers).and_then(|token| state.entra.app_of(token, Utc::now())) else {
        // A user's own token may name themselves, as `/me`.
        return match state.authenticate(Provider::Microsoft, headers, Utc::now()) {
            Ok(account) => {
                let same = state.entra.user(named).map(|u| u.user_principal_name.clone());
                if account.email.eq_ignore_ascii_case(named)
                    || same.is_some_and(|upn| upn.eq_ignore_ascii_case(&account.email))
                {
                    Ok(account.email)
                } else {
                    Err(access_denied())
                }
            }
            Err(response) => Err(response),
        };
    };
    let read = method == Method::GET || tail.ends_with("getSchedule");
    let needed: &[&str] = if tail.is_empty() {
        &["User.Read.All", "User.ReadBasic.All", "Directory.Read.All"]
    } else if read {
        &["Calendars.Read", "Calendars.ReadWrite"]
    } else {
        &["Calendars.ReadWrite"]
    };
    // Entra's consent is in the token; Exchange's own grants (RBAC for Applications) are
    // read live, for the mailbox asked for: the two add up.
    let in_exchange = !tail.is_empty() && app.may_be_granted(needed);
    if !app.holds(needed) && !in_exchange {
        return Err(access_denied());
    }
    let Some(user) = state.entra.user(named).cloned() else {
        return Err(graph_error(
            StatusCode::NOT_FOUND,
            "ErrorInvalidUser",
            &format!("The requested user '{named}' is invalid."),
        ));
    };
    if !tail.is_empty() && !state.entra.exchange_grants(&app, needed, &user) {
        if !app.holds(needed) {
            return Err(access_denied());
        }
        if !state.entra.within_scope(&app, &user) {
            return Err(graph_error(StatusCode::FORBIDDEN, "ErrorAccessDenied", OUTSIDE_SCOPE));
        }
    }
    if !tail.is_empty() && (!user.mailbox || user.on_premises) {
        return Err(graph_error(
            StatusCode::NOT_FOUND,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        ));
    }
    state.ensure_account(Provider::Microsoft, &user.user_principal_name);
    Ok(user.user_principal_name)
}

/// An application's subscription call: the mailbox is the one its resource (create) or the
/// subscription (renew, read, delete) names.
async fn subscription_for_app(
    sandbox: &Sandbox,
    request: Request,
    rest: &str,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return graph_error(StatusCode::BAD_REQUEST, "BadRequest", "The body could not be read.");
    };
    let named = match rest.strip_prefix("/subscriptions/") {
        Some(id) => sandbox.lock().microsoft.subscription_owner(id),
        None => serde_json::from_slice::<Value>(&bytes).ok().and_then(|body| {
            let resource = body.get("resource")?.as_str()?.trim_start_matches('/').to_owned();
            let user = resource.strip_prefix("users/")?.split('/').next()?.to_owned();
            Some(percent_decoded(&user))
        }),
    };
    let mut request = Request::from_parts(parts, Body::from(bytes));
    let Some(named) = named else {
        // Graph's own checks answer (an unknown subscription, a resource of the sandbox's).
        return next.run(request).await;
    };
    match admit(sandbox, request.headers(), &named, &Method::GET, "events") {
        Ok(mailbox) => {
            set_acting_for(&mut request, &mailbox);
            next.run(request).await
        }
        Err(response) => response,
    }
}

fn set_acting_for(request: &mut Request, mailbox: &str) {
    if let Ok(value) = HeaderValue::from_str(mailbox) {
        request.headers_mut().insert(ACTING_FOR, value);
    }
}

/// Replaces `from` by `to` in the request's path (and in the original URI the links are built
/// from), keeping the query.
fn rewrite_path(request: &mut Request, from: &str, to: &str) {
    let swap = |uri: &Uri| -> Option<Uri> {
        let path_and_query = uri.path_and_query()?.as_str().replacen(from, to, 1);
        let mut parts = uri.clone().into_parts();
        parts.path_and_query = path_and_query.parse().ok();
        Uri::from_parts(parts).ok()
    };
    if let Some(uri) = swap(request.uri()) {
        *request.uri_mut() = uri;
    }
    if let Some(OriginalUri(original)) = request.extensions().get::<OriginalUri>().cloned()
        && let Some(uri) = swap(&original)
    {
        request.extensions_mut().insert(OriginalUri(uri));
    }
}

/// The answer with its links to `/me/…` turned back into links to the mailbox the client named.
async fn relink(response: Response, me: &str, user_path: &str) -> Response {
    let json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return graph_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", "");
    };
    let text = String::from_utf8_lossy(&bytes)
        .replace(&format!("{me}/"), &format!("{user_path}/"))
        .replace(&format!("{me}?"), &format!("{user_path}?"));
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(text))
}

fn percent_decoded(text: &str) -> String {
    url::form_urlencoded::parse(format!("v={text}").as_bytes())
        .next()
        .map_or_else(|| text.to_owned(), |(_, value)| value.into_owned())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
}

/// 403 `ErrorAccessDenied` (an application permission missing).
fn access_denied() -> Response {
    graph_error(
        StatusCode::FORBIDDEN,
        "ErrorAccessDenied",
        "Access is denied. Check credentials and try again.",
    )
}

/// 403 `Authorization_RequestDenied`: the directory refuses an application without a
/// directory permission.
fn directory_denied() -> Response {
    graph_error(
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )
}

/// The directory's routes (merged into Graph at `/microsoft/v1.0`).
pub(super) fn router() -> Router<Sandbox> {
    Router::new().route("/users", get(list_users)).route("/groups/{id}/members", get(list_members))
}

#[derive(Debug, Deserialize)]
struct Paging {
    #[serde(rename = "$top")]
    top: Option<usize>,
    #[serde(rename = "$skiptoken")]
    skip: Option<usize>,
    /// The properties asked for, comma-separated.
    #[serde(rename = "$select")]
    select: Option<String>,
}

/// `GET /users`: the tenant's users, in pages.
async fn list_users(
    State(sandbox): State<Sandbox>,
    base: Base,
    headers: HeaderMap,
    Query(paging): Query<Paging>,
) -> Response {
    let state = sandbox.lock();
    let Some(app) = bearer(&headers).and_then(|token| state.entra.app_of(token, Utc::now())) else {
        return super::unauthorized(Provider::Microsoft);
    };
    if !app.holds(&["User.Read.All", "User.ReadBasic.All", "Directory.Read.All"]) {
        return directory_denied();
    }
    let mut users: Vec<&EntraUser> = state.entra.users.values().collect();
    users.sort_by(|a, b| a.user_principal_name.cmp(&b.user_principal_name));
    let read = Readable::of(&app);
    page(&format!("{}/users", base.0), &paging, &users, "users", read)
}

/// `GET /groups/{id}/members`: the group's direct members (users).
async fn list_members(
    State(sandbox): State<Sandbox>,
    base: Base,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(paging): Query<Paging>,
) -> Response {
    let state = sandbox.lock();
    let Some(app) = bearer(&headers).and_then(|token| state.entra.app_of(token, Utc::now())) else {
        return super::unauthorized(Provider::Microsoft);
    };
    if !app.holds(&["GroupMember.Read.All", "Group.Read.All", "Directory.Read.All"]) {
        return directory_denied();
    }
    let Some(members) = state.entra.groups.get(&id) else {
        return graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        );
    };
    let mut users: Vec<&EntraUser> =
        state.entra.users.values().filter(|user| members.contains(&user.id)).collect();
    users.sort_by(|a, b| a.user_principal_name.cmp(&b.user_principal_name));
    let link = format!("{}/groups/{id}/members", base.0);
    page(&link, &paging, &users, "directoryObjects", Readable::of(&app))
}

/// What an application may read of the users a listing returns. Graph answers a member the
/// application may not read (reading a group's members is not reading users) with its
/// `@odata.type` and `id` alone, every other property null: "limited information returned for
/// inaccessible member objects".
#[derive(Clone, Copy, PartialEq, Eq)]
enum Readable {
    /// `User.Read.All` or `Directory.Read.All`: every property.
    All,
    /// `User.ReadBasic.All`: the basic profile (`displayName`, `mail`, `userPrincipalName`).
    Basic,
    /// Nothing about users: `id` alone.
    Limited,
}

impl Readable {
    fn of(app: &App) -> Self {
        if app.holds(&["User.Read.All", "Directory.Read.All"]) {
            Self::All
        } else if app.holds(&["User.ReadBasic.All"]) {
            Self::Basic
        } else {
            Self::Limited
        }
    }

    /// Whether the property `key` is read, or answered null.
    fn reads(self, key: &str) -> bool {
        match self {
            Self::All => true,
            Self::Basic => {
                ["@odata.type", "id", "displayName", "mail", "userPrincipalName"].contains(&key)
            }
            Self::Limited => ["@odata.type", "id"].contains(&key),
        }
    }
}

/// One page of users, with the link to the next (which asks for the same properties).
fn page(
    link: &str,
    paging: &Paging,
    users: &[&EntraUser],
    entity: &str,
    read: Readable,
) -> Response {
    let size = paging.top.unwrap_or(PAGE).clamp(1, MAX_PAGE);
    let from = paging.skip.unwrap_or(0).min(users.len());
    let to = (from + size).min(users.len());
    let selected: Option<Vec<&str>> =
        paging.select.as_deref().map(|fields| fields.split(',').map(str::trim).collect());
    let value: Vec<Value> = users[from..to]
        .iter()
        .map(|user| {
            let mut listed = directory_entry(user);
            listed.retain(|key, _| match &selected {
                Some(fields) => key == "@odata.type" || fields.contains(&key.as_str()),
                None => key != "assignedPlans",
            });
            for (key, value) in &mut listed {
                if !read.reads(key) {
                    *value = Value::Null;
                }
            }
            Value::Object(listed)
        })
        .collect();
    let mut body = json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#{entity}"),
        "value": value,
    });
    if to < users.len() {
        let select = paging.select.as_ref().map(|s| format!("$select={s}&")).unwrap_or_default();
        body["@odata.nextLink"] = json!(format!("{link}?{select}$top={size}&$skiptoken={to}"));
    }
    Json(body).into_response()
}

/// Every property the sandbox knows of `user`, as Graph names them: `mail` only with a mailbox
/// (or when set apart from the sign-in name), and an `exchange` plan only with a mailbox.
fn directory_entry(user: &EntraUser) -> serde_json::Map<String, Value> {
    let mail = user.mail.clone().or_else(|| user.mailbox.then(|| user.user_principal_name.clone()));
    let plans = if user.mailbox {
        json!([{
            "assignedDateTime": "2026-01-05T09:00:00Z",
            "capabilityStatus": "Enabled",
            "service": "exchange",
            "servicePlanId": "efb87545-963c-4e0d-99df-69c6916d9eb0",
        }])
    } else {
        json!([])
    };
    let name = user.display_name.clone();
    [
        ("@odata.type", json!("#microsoft.graph.user")),
        ("id", json!(user.id)),
        (
            "displayName",
            json!(name.unwrap_or_else(|| super::display_name(&user.user_principal_name))),
        ),
        ("mail", json!(mail)),
        ("userPrincipalName", json!(user.user_principal_name)),
        ("accountEnabled", json!(user.account_enabled)),
        ("userType", json!(user.user_type)),
        ("assignedPlans", plans),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect()
}

/// Control routes (nested at `/_control/entra`): what the administrator sets up.
pub(super) fn control_router() -> Router<Sandbox> {
    Router::new()
        .route("/apps", post(put_app))
        .route("/users", get(users).post(put_user))
        .route("/users/{name}", axum::routing::delete(remove_user))
        .route("/groups/{id}", put(put_group))
}

/// Registers an application, or changes one (its secret, roles or access group); answers its
/// ids as the registration's overview page shows them: the application's and the tenant's.
async fn put_app(State(sandbox): State<Sandbox>, Json(app): Json<App>) -> Json<Value> {
    let ids = json!({"client_id": app.client_id, "tenant_id": super::microsoft::TENANT_ID});
    sandbox.lock().entra.apps.insert(app.client_id.clone(), app);
    Json(ids)
}

async fn users(State(sandbox): State<Sandbox>) -> Json<Vec<EntraUser>> {
    let state = sandbox.lock();
    let mut users: Vec<EntraUser> = state.entra.users.values().cloned().collect();
    users.sort_by(|a, b| a.user_principal_name.cmp(&b.user_principal_name));
    Json(users)
}

/// Adds a user (with a mailbox) or changes one; the user as stored, with its id.
async fn put_user(State(sandbox): State<Sandbox>, Json(mut user): Json<EntraUser>) -> Response {
    let mut state = sandbox.lock();
    let name = user.user_principal_name.to_ascii_lowercase();
    state.ensure_account(Provider::Microsoft, &name);
    user.id = state.microsoft.user_id(&name).unwrap_or_default();
    state.entra.users.insert(name, user.clone());
    (StatusCode::OK, Json(user)).into_response()
}

async fn remove_user(State(sandbox): State<Sandbox>, Path(name): Path<String>) -> StatusCode {
    let mut state = sandbox.lock();
    match state.entra.users.remove(&name.to_ascii_lowercase()) {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::NOT_FOUND,
    }
}

#[derive(Deserialize)]
struct Group {
    /// Members by userPrincipalName.
    members: Vec<String>,
}

/// Creates a group or sets its members.
async fn put_group(
    State(sandbox): State<Sandbox>,
    Path(id): Path<String>,
    Json(group): Json<Group>,
) -> Response {
    let mut state = sandbox.lock();
    let mut members = BTreeSet::new();
    for name in &group.members {
        match state.entra.user(name) {
            Some(user) => members.insert(user.id.clone()),
            None => {
                let body = json!({"error": format!("{name} is not a user of the directory")});
                return (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
            }
        };
    }
    state.entra.groups.insert(id, members);
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests;
