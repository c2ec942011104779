//! The Workspace client against the sandbox on a port: delegated tokens through yup-oauth2's
//! service-account flow, the directory, and what each refusal tells the administrator.

use std::time::Duration;

use kalends_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

use super::{
    CALENDAR_LIST_SCOPE, CALENDAR_SCOPE, DIRECTORY_SCOPE, Workspace, WorkspaceError, unit_query,
};
use crate::google::GoogleCalendar;
use crate::test_server::{Reply, STREAM_TOTAL, TestServer, Then};

const KEY: &str = include_str!("../../../../tests/fixtures/workspace/test-service-account.key.pem");
const PUBLIC_KEY: &str =
    include_str!("../../../../tests/fixtures/workspace/test-service-account.pub.pem");
const OTHER_KEY: &str = include_str!("../../../../tests/fixtures/workspace/other.key.pem");
const SERVICE_ACCOUNT: &str = kalends_sandbox::workspace::EXAMPLE_SERVICE_ACCOUNT;
const CLIENT_ID: &str = kalends_sandbox::workspace::EXAMPLE_CLIENT_ID;
const ADMIN: &str = "admin@salon.example";

/// A sandbox on a port playing the example Workspace (`seed_example`: the service account, an
/// administrator and three staff members in three units).
struct Salon {
    base: String,
    http: reqwest::Client,
}

impl Salon {
    async fn start() -> Self {
        let sandbox = Sandbox::new(SandboxConfig::for_public_url("http://127.0.0.1:9"));
        let http = kalends_sandbox::control_client(&sandbox);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = sandbox.router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let salon = Self { base, http };
        let token_uri = format!("{}/google/token", salon.base);
        kalends_sandbox::workspace::seed_example(&sandbox, PUBLIC_KEY, &token_uri);
        salon
    }

    async fn control(&self, method: &str, path: &str, body: Value) {
        let url = format!("{}/_control/workspace{path}", self.base);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = self.http.request(method, url).json(&body).send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
    }

    async fn delegate(&self, scopes: &[&str]) {
        self.control("PUT", &format!("/delegations/{CLIENT_ID}"), json!({"scopes": scopes})).await;
    }

    /// The key file as Google Cloud hands it out (its `token_uri` Google's own: Kalends sends
    /// token requests where its configuration says).
    fn key(private_key: &str) -> Value {
        json!({
            "type": "service_account", "project_id": "salon-123", "private_key_id": kalends_sandbox::workspace::EXAMPLE_KEY_ID,
            "private_key": private_key, "client_email": SERVICE_ACCOUNT, "client_id": CLIENT_ID,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token",
        })
    }

    /// The example Workspace, its directory and calendars delegated, and everyone in it as
    /// its administrator ([`ADMIN`]) reads them.
    async fn read_by_its_administrator() -> (Self, Workspace, Vec<super::DirectoryUser>) {
        let salon = Self::start().await;
        salon.delegate(&[CALENDAR_SCOPE, DIRECTORY_SCOPE]).await;
        let workspace = salon.workspace(KEY);
        let everyone = workspace.directory(ADMIN, "salon.example", None).await.unwrap();
        (salon, workspace, everyone)
    }

    fn workspace(&self, private_key: &str) -> Workspace {
        let token_url = format!("{}/google/token", self.base);
        let directory = format!("{}/google/admin/directory/v1/", self.base);
        Workspace::new(&Self::key(private_key), &token_url, &directory, Duration::from_secs(10))
            .unwrap()
    }
}

#[tokio::test]
async fn a_delegated_users_token_reaches_their_own_calendar() {
    let salon = Salon::start().await;
    salon.delegate(&[CALENDAR_SCOPE, CALENDAR_LIST_SCOPE]).await;
    let workspace = salon.workspace(KEY);
    let scopes = [CALENDAR_SCOPE, CALENDAR_LIST_SCOPE];
    let token = workspace.user_token("ann@salon.example", &scopes).await.unwrap();
    assert!(token.expires_at.is_some_and(|at| at > chrono::Utc::now()));
    let calendar = GoogleCalendar::new(
        &format!("{}/google/calendar/v3/", salon.base),
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(calendar.primary_email(&token.token).await.unwrap(), "ann@salon.example");

    // A token asked with the events scope alone may not list calendars, as at Google.
    let narrow = workspace.user_token("ann@salon.example", &[CALENDAR_SCOPE]).await.unwrap();
    let refused = calendar.primary_email(&narrow.token).await.unwrap_err();
    assert!(refused.to_string().contains("insufficient authentication scopes"), "{refused}");
}

#[tokio::test]
async fn each_refusal_tells_the_administrator_what_to_do() {
    let salon = Salon::start().await;
    salon.delegate(&[CALENDAR_SCOPE]).await;
    let workspace = salon.workspace(KEY);
    let error = workspace.user_token("ann@salon.example", &[DIRECTORY_SCOPE]).await.unwrap_err();
    assert!(matches!(error, WorkspaceError::NotDelegated { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains("Security > Access and data control > API controls > Domain-wide delegation"),
        "{text}"
    );
    assert!(text.contains(CLIENT_ID) && text.contains(DIRECTORY_SCOPE), "{text}");

    let stranger = workspace.user_token("eve@elsewhere.example", &[CALENDAR_SCOPE]);
    let error = stranger.await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "eve@elsewhere.example is not an active user of this Google Workspace"
    );

    let other_key = salon.workspace(OTHER_KEY);
    let error = other_key.user_token("ann@salon.example", &[CALENDAR_SCOPE]).await.unwrap_err();
    assert!(matches!(error, WorkspaceError::KeyRefused(_)), "{error:?}");
    assert!(error.to_string().contains("create a new JSON key"), "{error}");
}

#[tokio::test]
async fn a_file_that_is_no_service_account_key_is_refused_before_anything_is_sent() {
    let token_url = "http://127.0.0.1:9/google/token";
    let timeout = Duration::from_secs(1);
    let cases = [
        (json!({"type": "authorized_user", "client_id": "x"}), "not a service account key"),
        (json!({"type": "service_account", "client_email": SERVICE_ACCOUNT}), "a field is missing"),
        (
            {
                let mut k = Salon::key(KEY);
                k["client_id"] = json!("");
                k
            },
            "no client_id",
        ),
        (
            {
                let mut k = Salon::key(KEY);
                k["private_key"] = json!("hunter2");
                k
            },
            "not a PEM private key",
        ),
    ];
    for (key, words) in cases {
        let error = Workspace::new(&key, token_url, token_url, timeout).unwrap_err();
        assert!(matches!(error, WorkspaceError::BadKey(_)), "{error:?}");
        assert!(error.to_string().contains(words), "{error}");
        assert!(!error.to_string().contains("PRIVATE KEY"), "the key is never repeated: {error}");
    }
}

#[tokio::test]
async fn the_directory_lists_a_unit_with_those_below_it_and_refuses_a_reader_who_is_no_administrator()
 {
    let salon = Salon::start().await;
    salon.delegate(&[CALENDAR_SCOPE, DIRECTORY_SCOPE]).await;
    let workspace = salon.workspace(KEY);
    let staff =
        workspace.directory("admin@salon.example", "salon.example", Some("/Staff")).await.unwrap();
    let emails: Vec<&str> = staff.iter().map(|u| u.email.as_str()).collect();
    assert_eq!(emails, ["ann@salon.example", "bo@salon.example"]);
    assert_eq!((staff[1].org_unit_path.as_str(), staff[1].suspended), ("/Staff/Juniors", false));
    let everyone = workspace.directory("admin@salon.example", "salon.example", None).await.unwrap();
    assert_eq!(everyone.len(), 4);
    let error = workspace.directory("ann@salon.example", "salon.example", None).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "ann@salon.example may not read the Workspace directory: name a Workspace administrator as the administrator e-mail"
    );
}

#[tokio::test]
async fn a_user_is_found_by_id_wherever_they_are_and_an_id_is_never_read_as_a_path() {
    let (salon, workspace, everyone) = Salon::read_by_its_administrator().await;
    let bo = everyone.iter().find(|u| u.email == "bo@salon.example").unwrap();
    let path = format!("/users/{}/rename", bo.email);
    salon.control("POST", &path, json!({"primary_email": "bo.ng@salon.example"})).await;

    let found = workspace.user(ADMIN, &bo.id).await.unwrap().expect("Bo, by his id");
    assert_eq!((found.id.as_str(), found.email.as_str()), (bo.id.as_str(), "bo.ng@salon.example"));
    assert_eq!(workspace.user(ADMIN, "10000000000000000000999").await.unwrap(), None);
    // Escaped into one segment: not `users/..` nor a listing with a query of its own.
    for hostile in ["../users", "x?domain=salon.example", "a/b", "%2e%2e"] {
        assert_eq!(workspace.user(ADMIN, hostile).await.unwrap(), None, "{hostile}");
    }
    let error = workspace.user("ann@salon.example", &bo.id).await.unwrap_err();
    assert!(matches!(error, super::WorkspaceError::NotReadable(_)), "{error}");
    assert!(error.to_string().contains("may not read this user"), "{error}");
}

#[tokio::test]
async fn one_read_of_the_directory_asks_google_for_one_administrator_token() {
    let (salon, workspace, everyone) = Salon::read_by_its_administrator().await;
    for user in &everyone {
        assert!(workspace.user(ADMIN, &user.id).await.unwrap().is_some());
    }
    let url = format!("{}/_control/requests", salon.base);
    let counts: Value = salon.http.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(counts["POST google token jwt-bearer"], 1, "{counts}");
}

#[test]
fn a_units_name_is_quoted_as_googles_query_syntax_asks() {
    assert_eq!(unit_query("/Staff"), "orgUnitPath='/Staff'");
    assert_eq!(unit_query("/Women's team"), r"orgUnitPath='/Women\'s team'");
    assert_eq!(unit_query(r"/A\B"), r"orgUnitPath='/A\\B'");
}

#[tokio::test]
async fn google_failing_for_a_moment_at_its_token_endpoint_is_worth_another_try() {
    let salon = Salon::start().await;
    salon.delegate(&[CALENDAR_SCOPE, DIRECTORY_SCOPE]).await;
    let faults = format!("{}/_control/faults", salon.base);
    for fault in
        [json!({"rate_limit_rate": 1.0, "retry_after_secs": 1.0}), json!({"error_rate": 1.0})]
    {
        let answer = salon.http.put(&faults).json(&fault).send().await.unwrap();
        assert!(answer.status().is_success());
        let refused = salon.workspace(KEY).user_token("ann@salon.example", &[CALENDAR_SCOPE]).await;
        let error = refused.err().unwrap();
        assert!(
            matches!(&error, WorkspaceError::Provider(e) if e.is_retryable()),
            "{fault}: {error:?}"
        );
    }
}

#[test]
fn the_token_endpoints_own_words_for_a_passing_failure_are_worth_another_try() {
    for code in ["internal_failure", "temporarily_unavailable", "server_error"] {
        assert!(super::passing(&yup_oauth2::error::AuthErrorCode::Other(code.into())), "{code}");
    }
    assert!(!super::passing(&yup_oauth2::error::AuthErrorCode::InvalidGrant));
}

/// A directory at `base/users` whose every page names a next one: `token(n)` is the next page's
/// token after the `n`th request. Answers how many pages were asked for.
async fn endless_directory(
    token: fn(usize) -> String,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let router = axum::Router::new().route(
        "/users",
        axum::routing::get(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                axum::Json(json!({
                    "users": [{"id": format!("u{n}"), "primaryEmail": format!("u{n}@salon.example"),
                        "orgUnitPath": "/"}],
                    "nextPageToken": token(n),
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, asked)
}

/// The example Workspace's administrator reads a directory whose pages never end (`token`, as
/// in [`endless_directory`]): the error the read ends with, and how many pages it asked for.
async fn read_endless(token: fn(usize) -> String) -> (String, usize) {
    let salon = Salon::start().await;
    salon.delegate(&[CALENDAR_SCOPE, DIRECTORY_SCOPE]).await;
    let (base, asked) = endless_directory(token).await;
    let token_url = format!("{}/google/token", salon.base);
    let workspace =
        Workspace::new(&Salon::key(KEY), &token_url, &base, Duration::from_secs(10)).unwrap();
    let read = tokio::time::timeout(
        Duration::from_secs(60),
        workspace.directory(ADMIN, "salon.example", None),
    )
    .await
    .expect("the read ends");
    (read.unwrap_err().to_string(), asked.load(std::sync::atomic::Ordering::SeqCst))
}

#[tokio::test]
async fn a_directory_naming_the_same_next_page_again_is_refused_rather_than_read_forever() {
    let (error, asked) = read_endless(|_| "again".into()).await;
    assert!(error.contains("the same page"), "{error}");
    assert_eq!(asked, 2);
}

#[tokio::test]
async fn a_directory_whose_pages_never_end_is_read_to_a_limit_and_refused() {
    let (error, asked) = read_endless(|n| format!("page-{n}")).await;
    assert!(error.contains("pages"), "{error}");
    assert_eq!(asked, super::DIRECTORY_PAGES);
}

#[tokio::test]
async fn a_directory_answer_without_end_is_cut_off_at_the_limit_and_refused() {
    let salon = Salon::start().await;
    salon.delegate(&[CALENDAR_SCOPE, DIRECTORY_SCOPE]).await;
    let endless = TestServer::start(|_| Reply::head(200, "").then(Then::Stream)).await;
    let base = endless.url("/").to_string();
    let token_url = format!("{}/google/token", salon.base);
    let workspace =
        Workspace::new(&Salon::key(KEY), &token_url, &base, Duration::from_secs(60)).unwrap();
    let read = workspace.directory(ADMIN, "salon.example", None);
    let error = tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the read stops at the limit")
        .unwrap_err();
    assert!(error.to_string().contains("larger than 16 MiB"), "{error}");
    assert!(endless.streamed_bytes().await < STREAM_TOTAL, "the read hung up at the limit");
}
