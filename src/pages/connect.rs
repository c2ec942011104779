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
use kalends_core::store::OAuthFlow;
use kalends_providers::ProviderError;
use kalends_providers::session::ConnectionError;
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

/// `GET /connect/{provider}`.
async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(provider): Path<String>,
) -> Response {
    let Ok(provider) = provider.parse::<Provider>() else {
        return problem_page(
            StatusCode::NOT_FOUND,
            "Unknown calendar provider",
            "Kalends connects Google and Microsoft calendars.",
            back(),
        );
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
    if let Err(e) = state.store.create_oauth_flow(&authorization.state, &flow, &state.sealer).await
    {
        tracing::error!(error = %e, "could not store the connect flow");
        return problem_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The connection could not be started. Please try again.",
            back(),
        );
    }
    Redirect::to(authorization.url.as_str()).into_response()
}

/// What the provider sends back.
#[derive(Debug, Default, Deserialize)]
struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /oauth/{provider}/callback`.
// Long on purpose: each way a callback can fail (denied, no state, a used or foreign state, the
// code exchange, saving) answers its own page; read top to bottom, that is the whole flow.
async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(provider): Path<String>,
    Query(params): Query<CallbackParams>,
) -> Response {
    let Ok(provider) = provider.parse::<Provider>() else {
        return problem_page(
            StatusCode::NOT_FOUND,
            "Unknown calendar provider",
            "Kalends connects Google and Microsoft calendars.",
            back(),
        );
    };
    let restart = Some(("/settings", "Start again from your settings"));
    // The session first: a callback without the session that started the flow (someone who saw
    // its address) takes nothing, so the right browser can still finish it.
    let session = match Session::from_headers(&state, &headers).await {
        Ok(Some(session)) => session,
        Ok(None) => return other_session(),
        Err(e) => return flow_unreadable(&e),
    };
    // Then the state, taken (deleted) if it is this session's, so it works once whatever
    // happens next.
    let taken = match params.state.as_deref() {
        Some(value) => {
            let (tenant_id, staff_id) = (session.tenant_id(), session.staff_id());
            match state.store.take_oauth_flow(value, tenant_id, staff_id, &state.sealer).await {
                Ok(None) => state.store.oauth_flow_waiting(value).await.map(|w| (None, w)),
                other => other.map(|flow| (flow, false)),
            }
        }
        None => Ok((None, false)),
    };
    let flow = match taken {
        Ok((Some(flow), _)) if flow.provider == provider => flow,
        Ok((None, true)) => return other_session(),
        Ok(_) => {
            return problem_page(
                StatusCode::BAD_REQUEST,
                "This sign-in has expired or was already used",
                "Nothing was connected. Start again from your settings page; the sign-in must be finished within 15 minutes.",
                restart,
            );
        }
        Err(e) => return flow_unreadable(&e),
    };
    if let Some(error) = params.error.as_deref() {
        if error == "access_denied" {
            return Redirect::to("/settings?notice=denied").into_response();
        }
        let detail = format!(
            "{} said: {}",
            provider.label(),
            params.error_description.as_deref().unwrap_or(error)
        );
        return problem_page(
            StatusCode::BAD_GATEWAY,
            "The calendar could not be connected",
            &detail,
            restart,
        );
    }
    let Some(code) = params.code.as_deref() else {
        return problem_page(
            StatusCode::BAD_REQUEST,
            "The calendar could not be connected",
            "The provider sent no authorization code. Nothing was connected.",
            restart,
        );
    };
    match crate::connections::connect(
        &state,
        flow.tenant_id,
        flow.staff_id,
        provider,
        code,
        &flow.pkce_verifier,
    )
    .await
    {
        Ok(_) => Redirect::to(&format!("/settings?notice=connected-{provider}")).into_response(),
        Err(error) => failure_page(provider, &error),
    }
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

fn flow_unreadable(error: &kalends_core::StoreError) -> Response {
    tracing::error!(error = %error, "could not read the connect flow");
    problem_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Nothing was connected. Please try again.",
        Some(("/settings", "Start again from your settings")),
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
    problem_page(
        StatusCode::BAD_GATEWAY,
        "The calendar could not be connected",
        &detail,
        Some(("/settings", "Start again from your settings")),
    )
}
