//! The authorization endpoints: the consent page a browser shows ("Allow Kalends to manage your
//! calendar?") and the redirect back with a one-time code or `error=access_denied`.

use axum::extract::{Path, Query, RawForm, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse as _, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use chrono::{Duration, Utc};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use super::Sandbox;
use super::oauth::{CODE_LIFETIME_MINUTES, IssuedCode};
use crate::Provider;

/// Both services' authorize endpoints.
pub(super) fn router() -> Router<Sandbox> {
    Router::new().route("/google/o/oauth2/v2/auth", get(google_page).post(google_decide)).route(
        "/microsoft/{tenant}/oauth2/v2.0/authorize",
        get(microsoft_page).post(microsoft_decide),
    )
}

/// The authorize request's parameters (the same names at both services).
#[derive(Clone, Debug, Default, Deserialize)]
struct AuthorizeParams {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    access_type: Option<String>,
    prompt: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    login_hint: Option<String>,
    response_mode: Option<String>,
}

/// What the consent form posts back.
#[derive(Debug, Deserialize)]
struct Decision {
    decision: String,
    email: String,
}

/// A request that cannot even be sent back to the client: shown as an error page.
struct ErrorPage(StatusCode, String, String);

async fn google_page(
    State(sandbox): State<Sandbox>,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    page(&sandbox, Provider::Google, &params)
}

async fn microsoft_page(
    State(sandbox): State<Sandbox>,
    Path(_tenant): Path<String>,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    page(&sandbox, Provider::Microsoft, &params)
}

async fn google_decide(
    State(sandbox): State<Sandbox>,
    Query(params): Query<AuthorizeParams>,
    Form(decision): Form<Decision>,
) -> Response {
    decide(&sandbox, Provider::Google, &params, &decision)
}

async fn microsoft_decide(
    State(sandbox): State<Sandbox>,
    Path(_tenant): Path<String>,
    Query(params): Query<AuthorizeParams>,
    RawForm(body): RawForm,
) -> Response {
    match serde_decision(&body) {
        Some(decision) => decide(&sandbox, Provider::Microsoft, &params, &decision),
        None => (StatusCode::BAD_REQUEST, "missing decision").into_response(),
    }
}

fn serde_decision(body: &[u8]) -> Option<Decision> {
    let mut decision = None;
    let mut email = None;
    for (key, value) in url::form_urlencoded::parse(body) {
        match key.as_ref() {
            "decision" => decision = Some(value.into_owned()),
            "email" => email = Some(value.into_owned()),
            _ => {}
        }
    }
    Some(Decision { decision: decision?, email: email? })
}

fn page(sandbox: &Sandbox, provider: Provider, params: &AuthorizeParams) -> Response {
    match validate(sandbox, provider, params) {
        Ok(Ok(())) => Html(consent_page(provider, params).into_string()).into_response(),
        Ok(Err(redirect)) => redirect,
        Err(ErrorPage(status, title, detail)) => {
            (status, Html(error_page(provider, &title, &detail).into_string())).into_response()
        }
    }
}

/// Checks the client and redirect URI (failures are shown, never redirected: the redirect target
/// is not trusted yet), then the rest (failures are redirected back with `error=`).
fn validate(
    sandbox: &Sandbox,
    provider: Provider,
    params: &AuthorizeParams,
) -> Result<Result<(), Response>, ErrorPage> {
    let state = sandbox.lock();
    let client = match provider {
        Provider::Google => &state.config.google,
        Provider::Microsoft => &state.config.microsoft,
    };
    if params.client_id.as_deref() != Some(client.client_id.as_str()) {
        return Err(ErrorPage(
            StatusCode::UNAUTHORIZED,
            "Error 401: invalid_client".into(),
            "The OAuth client was not found.".into(),
        ));
    }
    let redirect_uri = params.redirect_uri.clone().unwrap_or_default();
    if !client.redirect_uris.contains(&redirect_uri) {
        return Err(ErrorPage(
            StatusCode::BAD_REQUEST,
            "Error 400: redirect_uri_mismatch".into(),
            format!(
                "The redirect URI in the request, {redirect_uri}, does not match the ones authorized for the OAuth client."
            ),
        ));
    }
    let problem = if params.response_type.as_deref() != Some("code") {
        Some(("unsupported_response_type", "response_type must be code"))
    } else if params.scope.as_deref().is_none_or(str::is_empty) {
        Some(("invalid_request", "Missing required parameter: scope"))
    } else if params
        .code_challenge_method
        .as_deref()
        .is_some_and(|method| method != "S256" && method != "plain")
    {
        Some(("invalid_request", "Invalid code_challenge_method"))
    } else {
        None
    };
    Ok(match problem {
        Some((error, description)) => Err(redirect_back(
            &redirect_uri,
            &[("error", error), ("error_description", description)],
            params.state.as_deref(),
        )),
        None => Ok(()),
    })
}

fn decide(
    sandbox: &Sandbox,
    provider: Provider,
    params: &AuthorizeParams,
    decision: &Decision,
) -> Response {
    match validate(sandbox, provider, params) {
        Ok(Ok(())) => {}
        Ok(Err(redirect)) => return redirect,
        Err(ErrorPage(status, title, detail)) => {
            return (status, Html(error_page(provider, &title, &detail).into_string()))
                .into_response();
        }
    }
    let redirect_uri = params.redirect_uri.clone().unwrap_or_default();
    if decision.decision != "allow" {
        let description = match provider {
            Provider::Google => "The user denied access.",
            Provider::Microsoft => "AADSTS65004: User declined to consent to access the app.",
        };
        return redirect_back(
            &redirect_uri,
            &[("error", "access_denied"), ("error_description", description)],
            params.state.as_deref(),
        );
    }
    let email = decision.email.trim().to_ascii_lowercase();
    if email_address_is_invalid(&email) {
        return (
            StatusCode::BAD_REQUEST,
            Html(
                consent_page_with(
                    provider,
                    params,
                    Some("Enter an e-mail address such as ann@example.com."),
                )
                .into_string(),
            ),
        )
            .into_response();
    }
    let scopes: Vec<String> = params
        .scope
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let offline = match provider {
        Provider::Google => params.access_type.as_deref() == Some("offline"),
        Provider::Microsoft => scopes.iter().any(|scope| scope == "offline_access"),
    };
    let mut state = sandbox.lock();
    state.ensure_account(provider, &email);
    let code = state.oauth.issue_code(IssuedCode {
        provider,
        client_id: params.client_id.clone().unwrap_or_default(),
        redirect_uri: redirect_uri.clone(),
        challenge: params.code_challenge.clone().map(|challenge| {
            (challenge, params.code_challenge_method.clone().unwrap_or_else(|| "plain".into()))
        }),
        scopes: scopes.clone(),
        email,
        offline,
        expires_at: Utc::now() + Duration::minutes(CODE_LIFETIME_MINUTES),
        redeemed: false,
    });
    let scope = scopes.join(" ");
    let mut pairs = vec![("code", code.as_str())];
    if provider == Provider::Google {
        pairs.push(("scope", scope.as_str()));
    }
    redirect_back(&redirect_uri, &pairs, params.state.as_deref())
}

fn email_address_is_invalid(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return true;
    };
    local.is_empty() || !domain.contains('.') || email.chars().any(char::is_whitespace)
}

fn redirect_back(redirect_uri: &str, pairs: &[(&str, &str)], state: Option<&str>) -> Response {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(url) => url,
        Err(_) => return (StatusCode::BAD_REQUEST, "invalid redirect_uri").into_response(),
    };
    {
        let mut query = url.query_pairs_mut();
        for (key, value) in pairs {
            query.append_pair(key, value);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
    }
    Redirect::to(url.as_str()).into_response()
}

/// What each scope means, in the words the consent page uses.
fn scope_text(scope: &str) -> Option<&'static str> {
    Some(match scope {
        "https://www.googleapis.com/auth/calendar.events" => {
            "View and edit events on all your calendars"
        }
        "https://www.googleapis.com/auth/calendar.readonly" => {
            "See and download any calendar you can access"
        }
        "https://www.googleapis.com/auth/calendar" => {
            "See, edit, share and permanently delete all your calendars"
        }
        "Calendars.ReadWrite" | "https://graph.microsoft.com/Calendars.ReadWrite" => {
            "Have full access to your calendars"
        }
        "User.Read" | "https://graph.microsoft.com/User.Read" => {
            "Sign you in and read your profile"
        }
        "offline_access" => "Maintain access to data you have given it access to",
        "email" => "See your primary e-mail address",
        _ => return None,
    })
}

fn consent_page(provider: Provider, params: &AuthorizeParams) -> Markup {
    consent_page_with(provider, params, None)
}

fn consent_page_with(
    provider: Provider,
    params: &AuthorizeParams,
    problem: Option<&str>,
) -> Markup {
    let (service, accent) = brand(provider);
    let email = params.login_hint.clone().unwrap_or_else(|| "alex@example.com".into());
    let scopes: Vec<&str> =
        params.scope.as_deref().unwrap_or_default().split(' ').filter_map(scope_text).collect();
    let hidden: Vec<(&str, &Option<String>)> = vec![
        ("client_id", &params.client_id),
        ("redirect_uri", &params.redirect_uri),
        ("response_type", &params.response_type),
        ("scope", &params.scope),
        ("state", &params.state),
        ("access_type", &params.access_type),
        ("prompt", &params.prompt),
        ("code_challenge", &params.code_challenge),
        ("code_challenge_method", &params.code_challenge_method),
        ("login_hint", &params.login_hint),
        ("response_mode", &params.response_mode),
    ];
    let action = {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in &hidden {
            if let Some(value) = value {
                query.append_pair(key, value);
            }
        }
        format!("?{}", query.finish())
    };
    shell(
        provider,
        "Allow Kalends to manage your calendar?",
        html! {
            header style=(format!("border-bottom:4px solid {accent}")) {
                span.brand { (service) }
                span.sandbox { "Sandbox: no real account is used" }
            }
            main {
                h1 { "Allow Kalends to manage your calendar?" }
                p.lead { "Kalends wants to access your " (service) " account." }
                @if let Some(problem) = problem { p.problem role="alert" { (problem) } }
                form method="post" action=(action) {
                    label for="email" { "Account" }
                    input #email type="email" name="email" value=(email) required autocomplete="email";
                    p { "This will allow Kalends to:" }
                    ul { @for text in &scopes { li { (text) } } }
                    p.small { "Make sure you trust Kalends. You can remove its access at any time in your account settings." }
                    div.actions {
                        button.deny type="submit" name="decision" value="deny" { "Deny" }
                        button.allow type="submit" name="decision" value="allow" style=(format!("background:{accent}")) { "Allow" }
                    }
                }
            }
        },
    )
}

fn error_page(provider: Provider, title: &str, detail: &str) -> Markup {
    shell(
        provider,
        title,
        html! {
            header { span.brand { (brand(provider).0) } span.sandbox { "Sandbox" } }
            main { h1 { "Access blocked: this request is invalid" } p.problem { (title) } p { (detail) } }
        },
    )
}

fn brand(provider: Provider) -> (&'static str, &'static str) {
    match provider {
        Provider::Google => ("Google", "#1a73e8"),
        Provider::Microsoft => ("Microsoft", "#0067b8"),
    }
}

fn shell(provider: Provider, title: &str, body: Markup) -> Markup {
    let font = match provider {
        Provider::Google => "Roboto, Arial, sans-serif",
        Provider::Microsoft => "'Segoe UI', 'Helvetica Neue', sans-serif",
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (maud::PreEscaped(format!("body{{margin:0;background:#f1f3f4;font-family:{font};color:#202124}}\
                    header{{background:#fff;padding:16px 24px;display:flex;justify-content:space-between;align-items:center}}\
                    .brand{{font-size:22px;font-weight:500}}.sandbox{{font-size:12px;background:#fef7e0;color:#8a6d00;padding:4px 8px;border-radius:12px}}\
                    main{{max-width:440px;margin:40px auto;background:#fff;border:1px solid #dadce0;border-radius:8px;padding:32px 40px}}\
                    h1{{font-size:22px;font-weight:400;margin:0 0 12px}}.lead{{color:#5f6368}}\
                    label{{display:block;font-size:13px;color:#5f6368;margin:16px 0 4px}}\
                    input{{width:100%;box-sizing:border-box;padding:10px;border:1px solid #dadce0;border-radius:4px;font-size:15px}}\
                    ul{{padding-left:20px;line-height:1.7}}.small{{font-size:12px;color:#5f6368}}\
                    .actions{{display:flex;justify-content:flex-end;gap:12px;margin-top:24px}}\
                    button{{padding:9px 24px;border-radius:4px;font-size:14px;cursor:pointer;border:1px solid #dadce0;background:#fff}}\
                    button.allow{{color:#fff;border:none}}.problem{{color:#c5221f}}"))) }
            }
            body { (body) }
        }
    }
}
