//! The OAuth connect flow: `GET /connect/{provider}` sends the browser to the provider with a
//! single-use `state` (stored hashed, bound to the tenant and staff member, 15 minutes) and a
//! PKCE challenge; `GET /oauth/{provider}/callback` checks the session first, then takes the
//! state (only its own: a callback from another browser leaves the flow to the one that started
//! it), exchanges the code, and lands back on the settings page. Every failure shows a clear page
//! and stores nothing.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::{Duration, Utc};
use kalends_core::domain::Provider;
use kalends_providers::ProviderError;
use kalends_providers::session::ConnectionError;
use kalends_store::OAuthFlow;
use serde::Deserialize;

use super::calendars::signed_in;
use super::{Session, problem_page};
use crate::state::AppState;

/// How long a started connect flow is accepted.
const FLOW_MINUTES: i64 = 15;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/connect/{provider}", get(start))
        .route("/oauth/{provider}/callback", get(callback))
}

fn back() -> Option<(&'static str, &'static str)> {
    Some(("/settings", "Back to your calendars"))
}

/// Where a failed callback sends the person: back to where a flow starts.
fn restart() -> Option<(&'static str, &'static str)> {
    Some(("/settings", "Start again from your settings"))
}

/// `GET /connect/{provider}`.
async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(provider): Path<String>,
) -> Response {
    let Ok(provider) = provider.parse::<Provider>() else {
        return unknown_provider();
    };
    let (session, staff) = match signed_in(&state, &headers).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if !state.providers.is_available(provider) {
        return problem_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "This calendar provider is not set up",
            "This Kalends has no client id for it. Please ask its administrator.",
            back(),
        );
    }
    let login_hint = staff.data.email.as_ref().map(|e| e.as_str());
    // CalDAV has no consent page: its form is on the settings page.
    let Some(authorization) = state.providers.get(provider).authorize(login_hint) else {
        return Redirect::to("/settings#connect-caldav").into_response();
    };
    let flow = OAuthFlow {
        tenant_id: session.tenant_id(),
        staff_id: session.staff_id(),
        provider,
        pkce_verifier: authorization.pkce_verifier,
        expires_at: Utc::now() + Duration::minutes(FLOW_MINUTES),
    };
    match state.store.create_oauth_flow(&authorization.state, &flow, &state.sealer).await {
        Ok(()) => Redirect::to(authorization.url.as_str()).into_response(),
        Err(e) => not_started(&e),
    }
}

/// The page a provider name Kalends does not know answers with.
fn unknown_provider() -> Response {
    problem_page(
        StatusCode::NOT_FOUND,
        "Unknown calendar provider",
        "Kalends connects Google and Microsoft calendars.",
        back(),
    )
}

/// The page a flow that could not be stored answers with (logged).
fn not_started(error: &kalends_store::StoreError) -> Response {
    tracing::error!(error = %error, "could not store the connect flow");
    problem_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The connection could not be started. Please try again.",
        back(),
    )
}

/// What the provider sends back.
#[derive(Debug, Default, Deserialize)]
struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /oauth/{provider}/callback`: each way a callback can fail (no session, no state, a used
/// or foreign state, a refusal at the provider, the code exchange, saving) answers its own page.
async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(provider): Path<String>,
    Query(params): Query<CallbackParams>,
) -> Response {
    let Ok(provider) = provider.parse::<Provider>() else {
        return unknown_provider();
    };
    match finish(&state, &headers, provider, &params).await {
        Ok(connected) => connected,
        Err(page) => page,
    }
}

/// Finishes a flow in order: the session, the flow its state names, the provider's answer, the
/// code exchange. `Err` is the page that says where it stopped.
async fn finish(
    state: &AppState,
    headers: &HeaderMap,
    provider: Provider,
    params: &CallbackParams,
) -> Result<Response, Response> {
    // The session first: a callback without the session that started the flow (someone who saw
    // its address) takes nothing, so the right browser can still finish it.
    let session = match Session::from_headers(state, headers).await {
        Ok(Some(session)) => session,
        Ok(None) => return Err(other_session()),
        Err(e) => return Err(flow_unreadable(&e)),
    };
    let flow = taken_flow(state, &session, provider, params.state.as_deref()).await?;
    let code = authorization_code(provider, params)?;
    let (tenant_id, staff_id, verifier) = (flow.tenant_id, flow.staff_id, &flow.pkce_verifier);
    match crate::connections::connect(state, tenant_id, staff_id, provider, code, verifier).await {
        Ok(_) => {
            Ok(Redirect::to(&format!("/settings?notice=connected-{provider}")).into_response())
        }
        Err(error) => Err(failure_page(provider, &error)),
    }
}

/// The flow the callback's `state` names for `provider`, taken (deleted) if it is this
/// session's, so it works once whatever happens next; or the page that says why there is none.
async fn taken_flow(
    state: &AppState,
    session: &Session,
    provider: Provider,
    value: Option<&str>,
) -> Result<OAuthFlow, Response> {
    let taken = match value {
        Some(value) => take(state, session, value).await,
        None => Ok((None, false)),
    };
    match taken {
        Ok((Some(flow), _)) if flow.provider == provider => Ok(flow),
        Ok((None, true)) => Err(other_session()),
        Ok(_) => Err(problem_page(
            StatusCode::BAD_REQUEST,
            "This sign-in has expired or was already used",
            "Nothing was connected. Start again from your settings page; the sign-in must be finished within 15 minutes.",
            restart(),
        )),
        Err(e) => Err(flow_unreadable(&e)),
    }
}

/// The session's own flow under `value`, taken; without one, whether another session's flow
/// waits under it.
async fn take(
    state: &AppState,
    session: &Session,
    value: &str,
) -> Result<(Option<OAuthFlow>, bool), kalends_store::StoreError> {
    let (tenant_id, staff_id) = (session.tenant_id(), session.staff_id());
    match state.store.take_oauth_flow(value, tenant_id, staff_id, &state.sealer).await {
        Ok(None) => state.store.oauth_flow_waiting(value).await.map(|waiting| (None, waiting)),
        other => other.map(|flow| (flow, false)),
    }
}

/// The authorization code the provider sent, or what its refusal answers: a person who declined
/// is back on the settings page, told so; any other error is the provider's words.
// The refusal is a whole page, made at most once per request and returned at once: boxing it
// would only add an allocation.
#[allow(clippy::result_large_err)]
fn authorization_code(provider: Provider, params: &CallbackParams) -> Result<&str, Response> {
    if let Some(error) = params.error.as_deref() {
        if error == "access_denied" {
            return Err(Redirect::to("/settings?notice=denied").into_response());
        }
        let said = params.error_description.as_deref().unwrap_or(error);
        let detail = format!("{} said: {said}", provider.label());
        let title = "The calendar could not be connected";
        return Err(problem_page(StatusCode::BAD_GATEWAY, title, &detail, restart()));
    }
    params.code.as_deref().ok_or_else(|| {
        problem_page(
            StatusCode::BAD_REQUEST,
            "The calendar could not be connected",
            "The provider sent no authorization code. Nothing was connected.",
            restart(),
        )
    })
}

/// A callback from a browser without the session that started its flow.
fn other_session() -> Response {
    problem_page(
        StatusCode::BAD_REQUEST,
        "This sign-in belongs to another session",
        "It was started in another browser or by someone else, so nothing was connected. Open your settings link in this browser and start again.",
        None,
    )
}

fn flow_unreadable(error: &kalends_store::StoreError) -> Response {
    tracing::error!(error = %error, "could not read the connect flow");
    problem_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Nothing was connected. Please try again.",
        restart(),
    )
}

fn failure_page(provider: Provider, error: &ConnectionError) -> Response {
    tracing::warn!(provider = %provider, error = %error, "connect failed");
    let detail = match error {
        ConnectionError::Provider(
            ProviderError::DeadGrant { message } | ProviderError::Permanent { message, .. },
        ) => {
            format!("{} refused: {message}. Nothing was connected.", provider.label())
        }
        ConnectionError::Provider(ProviderError::Transient { .. }) => {
            format!(
                "{} did not answer in time. Nothing was connected; please try again.",
                provider.label()
            )
        }
        _ => "Nothing was connected. Please try again.".to_owned(),
    };
    problem_page(StatusCode::BAD_GATEWAY, "The calendar could not be connected", &detail, restart())
}
