//! The JWT-bearer grant and the directory, on the wire: what an administrator's setup lets a
//! service account do, and each way Google refuses it.

use chrono::Utc;
use jsonwebtoken::{EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{DIRECTORY_SCOPE, JWT_BEARER};

const KEY: &str = include_str!("../../../tests/fixtures/workspace/test-service-account.key.pem");
const PUBLIC_KEY: &str =
    include_str!("../../../tests/fixtures/workspace/test-service-account.pub.pem");
const OTHER_KEY: &str = include_str!("../../../tests/fixtures/workspace/other.key.pem");

const CALENDAR: &str = "https://www.googleapis.com/auth/calendar.events";
const CALENDAR_LIST: &str = "https://www.googleapis.com/auth/calendar.readonly";
const SERVICE_ACCOUNT: &str = super::EXAMPLE_SERVICE_ACCOUNT;
const CLIENT_ID: &str = super::EXAMPLE_CLIENT_ID;
const KEY_ID: &str = super::EXAMPLE_KEY_ID;

/// A sandbox on a port, with a service account registered whose key names this sandbox's
/// token endpoint, and the salon's directory: an administrator and two staff members.
struct Workspace {
    base: String,
    http: reqwest::Client,
}

impl Workspace {
    async fn start() -> Self {
        let (base, http, sandbox) = crate::serve_for_tests().await;
        let workspace = Self { base, http };
        super::seed_example(&sandbox, PUBLIC_KEY, &workspace.token_uri());
        workspace
    }

    fn token_uri(&self) -> String {
        format!("{}/google/token", self.base)
    }

    async fn control(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}/_control/workspace{path}", self.base);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = self.http.request(method, url).json(&body).send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap_or(Value::Null)
    }

    async fn delegate(&self, scopes: &[&str]) {
        self.control("PUT", &format!("/delegations/{CLIENT_ID}"), json!({"scopes": scopes})).await;
    }

    /// Asks the token endpoint for `assertion`; the status and the JSON answer.
    async fn grant(&self, assertion: &str) -> (StatusCode, Value) {
        let form = [("grant_type", JWT_BEARER), ("assertion", assertion)];
        let response = self.http.post(self.token_uri()).form(&form).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    async fn token_for(&self, user: &str, scope: &str) -> String {
        let (status, body) = self.grant(&assertion(Claims::for_user(self, user, scope))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let response =
            self.http.get(format!("{}{path}", self.base)).bearer_auth(token).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// An assertion's parts, to spoil one at a time.
struct Claims {
    claims: Value,
    key: &'static str,
    kid: Option<&'static str>,
}

impl Claims {
    fn for_user(workspace: &Workspace, user: &str, scope: &str) -> Self {
        let now = Utc::now().timestamp();
        let claims = json!({
            "iss": SERVICE_ACCOUNT, "sub": user, "scope": scope, "aud": workspace.token_uri(),
            "iat": now, "exp": now + 3600,
        });
        Self { claims, key: KEY, kid: Some(KEY_ID) }
    }
}

fn assertion(parts: Claims) -> String {
    let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = parts.kid.map(str::to_owned);
    let key = EncodingKey::from_rsa_pem(parts.key.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &parts.claims, &key).unwrap()
}

#[tokio::test]
async fn a_delegated_service_account_gets_a_token_that_serves_the_users_own_calendars() {
    let workspace = Workspace::start().await;
    workspace.delegate(&[CALENDAR, CALENDAR_LIST, DIRECTORY_SCOPE]).await;
    let both = format!("{CALENDAR} {CALENDAR_LIST}");
    let (status, body) =
        workspace.grant(&assertion(Claims::for_user(&workspace, "ann@salon.example", &both))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["token_type"].as_str(), body["expires_in"].as_i64()),
        (Some("Bearer"), Some(3599))
    );
    assert!(body.get("refresh_token").is_none(), "a service account signs again instead");
    let token = body["access_token"].as_str().unwrap();
    let (status, calendars) =
        workspace.get("/google/calendar/v3/users/me/calendarList", token).await;
    assert_eq!(status, StatusCode::OK, "{calendars}");
    let primary = calendars["items"].as_array().unwrap().iter().find(|c| c["primary"] == true);
    assert_eq!(primary.unwrap()["id"], "ann@salon.example");

    // With the events scope alone the calendar list is refused, as Google refuses it.
    let (_, body) = workspace
        .grant(&assertion(Claims::for_user(&workspace, "ann@salon.example", CALENDAR)))
        .await;
    let narrow = body["access_token"].as_str().unwrap();
    let (status, refused) =
        workspace.get("/google/calendar/v3/users/me/calendarList", narrow).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["error"]["errors"][0]["reason"], "insufficientPermissions");
}

#[tokio::test]
async fn each_spoiled_assertion_is_refused_with_googles_words() {
    let workspace = Workspace::start().await;
    workspace.delegate(&[CALENDAR]).await;
    let ann = || Claims::for_user(&workspace, "ann@salon.example", CALENDAR);
    let now = Utc::now().timestamp();
    let mut cases: Vec<(&str, Claims, StatusCode, &str, &str)> = Vec::new();
    let with = |change: &dyn Fn(&mut Claims)| {
        let mut parts = ann();
        change(&mut parts);
        parts
    };
    let bad = StatusCode::BAD_REQUEST;
    cases.push((
        "another key",
        with(&|p| p.key = OTHER_KEY),
        bad,
        "invalid_grant",
        "Invalid JWT Signature.",
    ));
    cases.push((
        "another key id",
        with(&|p| p.kid = Some("0000")),
        bad,
        "invalid_grant",
        "Invalid JWT Signature.",
    ));
    cases.push((
        "an unknown issuer",
        with(&|p| p.claims["iss"] = json!("x@y.iam.gserviceaccount.com")),
        bad,
        "invalid_grant",
        "account not found",
    ));
    cases.push((
        "another audience",
        with(&|p| p.claims["aud"] = json!("https://example.com/token")),
        bad,
        "invalid_grant",
        "Failed audience check",
    ));
    cases.push((
        "an expired assertion",
        with(&|p| {
            p.claims["iat"] = json!(now - 7200);
            p.claims["exp"] = json!(now - 3600);
        }),
        bad,
        "invalid_grant",
        "short-lived",
    ));
    cases.push((
        "two hours long",
        with(&|p| p.claims["exp"] = json!(now + 7200)),
        bad,
        "invalid_grant",
        "short-lived",
    ));
    cases.push((
        "no scope",
        with(&|p| p.claims["scope"] = json!("")),
        bad,
        "invalid_scope",
        "Empty or missing scope",
    ));
    cases.push((
        "a scope not delegated",
        with(&|p| p.claims["scope"] = json!(format!("{CALENDAR} {DIRECTORY_SCOPE}"))),
        StatusCode::UNAUTHORIZED,
        "unauthorized_client",
        "not authorized for any of the scopes",
    ));
    cases.push((
        "a user outside the directory",
        with(&|p| p.claims["sub"] = json!("eve@elsewhere.example")),
        bad,
        "invalid_grant",
        "Invalid email or User ID",
    ));
    for (what, parts, status, error, words) in cases {
        let (got, body) = workspace.grant(&assertion(parts)).await;
        assert_eq!(got, status, "{what}: {body}");
        assert_eq!(body["error"], error, "{what}: {body}");
        let description = body["error_description"].as_str().unwrap_or_default();
        assert!(description.contains(words), "{what}: {body}");
    }
    let (status, body) = workspace.grant(&assertion(with(&|p| p.kid = None))).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a key id is optional, as Google's libraries send none: {body}"
    );
    let (status, body) = workspace.grant("not.a.jwt").await;
    assert_eq!((status, body["error"].as_str()), (bad, Some("invalid_grant")), "{body}");
}

#[tokio::test]
async fn delegation_taken_back_in_the_admin_console_refuses_the_next_grant() {
    let workspace = Workspace::start().await;
    workspace.delegate(&[CALENDAR]).await;
    workspace.token_for("ann@salon.example", CALENDAR).await;
    workspace.delegate(&[]).await;
    let (status, body) = workspace
        .grant(&assertion(Claims::for_user(&workspace, "ann@salon.example", CALENDAR)))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized_client"))
    );
}

#[tokio::test]
async fn a_suspended_user_gets_no_token() {
    let workspace = Workspace::start().await;
    workspace.delegate(&[CALENDAR]).await;
    let user =
        json!({"primary_email": "ann@salon.example", "org_unit_path": "/Staff", "suspended": true});
    workspace.control("POST", "/users", user).await;
    let (status, body) = workspace
        .grant(&assertion(Claims::for_user(&workspace, "ann@salon.example", CALENDAR)))
        .await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
}

#[tokio::test]
async fn the_directory_lists_an_org_unit_and_those_below_it_to_an_administrator_page_by_page() {
    let workspace = Workspace::start().await;
    workspace.delegate(&[CALENDAR, DIRECTORY_SCOPE]).await;
    let admin = workspace.token_for("admin@salon.example", DIRECTORY_SCOPE).await;
    let list = "/google/admin/directory/v1/users?domain=salon.example";
    let emails = |body: &Value| -> Vec<String> {
        body["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["primaryEmail"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, all) = workspace.get(list, &admin).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(emails(&all).len(), 4);
    let (_, staff) = workspace.get(&format!("{list}&query=orgUnitPath='/Staff'"), &admin).await;
    assert_eq!(
        emails(&staff),
        ["ann@salon.example", "bo@salon.example"],
        "the unit and the ones below it"
    );
    assert_eq!(staff["users"][0]["orgUnitPath"], "/Staff");
    let (_, first) = workspace.get(&format!("{list}&maxResults=3"), &admin).await;
    let next = first["nextPageToken"].as_str().unwrap().to_owned();
    let (_, second) = workspace.get(&format!("{list}&maxResults=3&pageToken={next}"), &admin).await;
    assert_eq!(emails(&first).len() + emails(&second).len(), 4);
    assert!(second.get("nextPageToken").is_none());
}

#[tokio::test]
async fn the_directory_refuses_a_unit_the_workspace_does_not_have_and_a_query_it_cannot_read() {
    let workspace = Workspace::start().await;
    workspace.delegate(&[CALENDAR, DIRECTORY_SCOPE]).await;
    let admin = workspace.token_for("admin@salon.example", DIRECTORY_SCOPE).await;
    let list = "/google/admin/directory/v1/users?domain=salon.example&query=orgUnitPath=";
    let (status, body) = workspace.get(&format!("{list}'/Stafff'"), &admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["message"], "Invalid Input: INVALID_OU_ID - /Stafff");
    for unreadable in ["'/Staff", "'/Sta'ff'", "/Staff%20Juniors", "Staff"] {
        let (status, body) = workspace.get(&format!("{list}{unreadable}"), &admin).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{unreadable}");
        assert_eq!(body["error"]["message"], "Invalid Input", "{unreadable}");
    }
    let (status, body) = workspace.get(&format!("{list}'/Staff%5C/Juniors'"), &admin).await;
    assert_eq!(status, StatusCode::OK, "an escaped character stands for itself: {body}");
    assert_eq!(body["users"][0]["primaryEmail"], "bo@salon.example");
}

#[tokio::test]
async fn the_directory_refuses_a_token_without_its_scope_and_a_user_who_is_no_administrator() {
    let workspace = Workspace::start().await;
    workspace.delegate(&[CALENDAR, DIRECTORY_SCOPE]).await;
    let list = "/google/admin/directory/v1/users?domain=salon.example";
    let calendar_only = workspace.token_for("admin@salon.example", CALENDAR).await;
    let (status, body) = workspace.get(list, &calendar_only).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["errors"][0]["reason"], "insufficientPermissions");
    let staff = workspace.token_for("ann@salon.example", DIRECTORY_SCOPE).await;
    let (status, body) = workspace.get(list, &staff).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("Not Authorized"), "{body}");
}
