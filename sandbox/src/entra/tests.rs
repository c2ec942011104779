//! App-only access on the wire: the client-credentials grant and each way Entra refuses it, the
//! directory, and Graph's calendar paths for a named mailbox within and outside the
//! application's scope.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::GRAPH_DEFAULT_SCOPE;
use crate::microsoft::TENANT_ID;

const APP: &str = "0d6c1f52-7a43-4b1e-9a58-7e6e616e7431";
const SECRET: &str = "app-secret-value";

/// A sandbox on a port with the salon's tenant: three users, a "Staff" group of two.
struct Tenant {
    base: String,
    http: reqwest::Client,
}

impl Tenant {
    async fn start(roles: &[&str], access_group: Option<&str>) -> Self {
        let (base, http, _sandbox) = crate::serve_for_tests().await;
        let tenant = Self { base, http };
        for name in ["ann@salon.example", "bo@salon.example", "cy@salon.example"] {
            tenant.control("POST", "/users", json!({"user_principal_name": name})).await;
        }
        let staff = json!({"members": ["ann@salon.example", "bo@salon.example"]});
        tenant.control("PUT", "/groups/staff-group", staff).await;
        tenant.register(roles, access_group).await;
        tenant
    }

    async fn register(&self, roles: &[&str], access_group: Option<&str>) {
        let app = json!({
            "client_id": APP, "client_secret": SECRET, "roles": roles, "access_group": access_group,
        });
        let registered = self.control("POST", "/apps", app).await;
        assert_eq!(registered, json!({"client_id": APP, "tenant_id": TENANT_ID}));
    }

    async fn control(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}/_control/entra{path}", self.base);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = self.http.request(method, url).json(&body).send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap_or(Value::Null)
    }

    async fn grant(
        &self,
        tenant: &str,
        id: &str,
        secret: &str,
        scope: &str,
    ) -> (StatusCode, Value) {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
            ("scope", scope),
        ];
        let url = format!("{}/microsoft/{tenant}/oauth2/v2.0/token", self.base);
        let response = self.http.post(url).form(&form).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    async fn app_token(&self) -> String {
        let (status, body) = self.grant(TENANT_ID, APP, SECRET, GRAPH_DEFAULT_SCOPE).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}/microsoft/v1.0{path}", self.base)
        };
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

fn event() -> Value {
    json!({
        "subject": "Booking",
        "start": {"dateTime": "2031-05-01T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2031-05-01T11:00:00", "timeZone": "UTC"},
    })
}

const EVERYTHING: &[&str] = &["Calendars.ReadWrite", "User.Read.All", "GroupMember.Read.All"];

#[tokio::test]
async fn an_application_lists_the_directory_and_writes_into_a_named_mailbox() {
    let tenant = Tenant::start(EVERYTHING, None).await;
    let token = tenant.app_token().await;
    let (status, users) = tenant.call("GET", "/users?$top=2", &token, None).await;
    assert_eq!(status, StatusCode::OK, "{users}");
    assert_eq!(users["value"].as_array().unwrap().len(), 2);
    let next = users["@odata.nextLink"].as_str().unwrap().to_owned();
    let (_, rest) = tenant.call("GET", &next, &token, None).await;
    assert_eq!(rest["value"][0]["userPrincipalName"], "cy@salon.example");
    assert!(rest.get("@odata.nextLink").is_none());
    let ann = users["value"][0]["id"].as_str().unwrap().to_owned();

    let (status, created) =
        tenant.call("POST", &format!("/users/{ann}/events"), &token, Some(event())).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, me) = tenant.call("GET", &format!("/users/{ann}"), &token, None).await;
    assert_eq!((status, me["mail"].as_str()), (StatusCode::OK, Some("ann@salon.example")));
    // By userPrincipalName too, and the user sees it as their own.
    let id = created["id"].as_str().unwrap();
    let path = format!("/users/ann@salon.example/events/{id}");
    let (status, read) = tenant.call("GET", &path, &token, None).await;
    assert_eq!((status, read["subject"].as_str()), (StatusCode::OK, Some("Booking")));
    let url = format!("{}/_control/microsoft/users/ann@salon.example/events", tenant.base);
    let seen: Value = tenant.http.get(url).send().await.unwrap().json().await.unwrap();
    assert!(seen.to_string().contains(id), "{seen}");

    let (status, members) = tenant.call("GET", "/groups/staff-group/members", &token, None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> =
        members["value"].as_array().unwrap().iter().map(|u| u["mail"].as_str().unwrap()).collect();
    assert_eq!(names, ["ann@salon.example", "bo@salon.example"]);
}

#[tokio::test]
async fn a_delta_round_for_a_named_mailbox_links_back_to_that_mailbox() {
    let tenant = Tenant::start(EVERYTHING, None).await;
    let token = tenant.app_token().await;
    let base = "/users/bo@salon.example";
    tenant.call("POST", &format!("{base}/events"), &token, Some(event())).await;
    let path = format!(
        "{base}/calendarView/delta?startDateTime=2031-01-01T00:00:00Z&endDateTime=2032-01-01T00:00:00Z"
    );
    let (status, round) = tenant.call("GET", &path, &token, None).await;
    assert_eq!(status, StatusCode::OK, "{round}");
    let link = round["@odata.deltaLink"].as_str().or(round["@odata.nextLink"].as_str()).unwrap();
    assert!(link.contains("/microsoft/v1.0/users/bo@salon.example/calendarView/delta"), "{link}");
    let (status, _) = tenant.call("GET", link, &token, None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn entra_refuses_a_wrong_tenant_application_secret_or_scope_in_its_own_words() {
    let tenant = Tenant::start(EVERYTHING, None).await;
    let cases = [
        (
            "00000000-0000-0000-0000-000000000000",
            APP,
            SECRET,
            GRAPH_DEFAULT_SCOPE,
            400,
            "AADSTS90002",
        ),
        (
            TENANT_ID,
            "11111111-2222-3333-4444-555555555555",
            SECRET,
            GRAPH_DEFAULT_SCOPE,
            400,
            "AADSTS700016",
        ),
        (TENANT_ID, APP, "not-the-secret", GRAPH_DEFAULT_SCOPE, 401, "AADSTS7000215"),
        (
            TENANT_ID,
            APP,
            SECRET,
            "https://graph.microsoft.com/Calendars.ReadWrite",
            400,
            "AADSTS1002012",
        ),
    ];
    for (tenant_id, app, secret, scope, status, code) in cases {
        let (got, body) = tenant.grant(tenant_id, app, secret, scope).await;
        assert_eq!(got.as_u16(), status, "{body}");
        assert!(body["error_description"].as_str().unwrap().starts_with(code), "{body}");
    }
}

#[tokio::test]
async fn graph_refuses_what_the_application_was_not_granted_and_mailboxes_outside_its_group() {
    let tenant = Tenant::start(&["Calendars.Read"], Some("staff-group")).await;
    let token = tenant.app_token().await;
    let (status, body) =
        tenant.call("GET", "/users/ann@salon.example/calendars", &token, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) =
        tenant.call("POST", "/users/ann@salon.example/events", &token, Some(event())).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("ErrorAccessDenied"))
    );
    let (status, body) =
        tenant.call("GET", "/users/cy@salon.example/calendars", &token, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["error"]["message"].as_str().unwrap().contains("AppOnly AccessPolicy"), "{body}");
    let (status, body) = tenant.call("GET", "/users", &token, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("Authorization_RequestDenied"))
    );
    let (status, body) =
        tenant.call("GET", "/users/nobody@salon.example/calendars", &token, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("ErrorInvalidUser"))
    );
    // An application's token is not a user's.
    let (status, body) = tenant.call("GET", "/me/calendars", &token, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Nor may a client pretend the check was made.
    let url = format!("{}/microsoft/v1.0/me/calendars", tenant.base);
    let forged =
        tenant.http.get(url).bearer_auth("made-up").header(super::ACTING_FOR, "ann@salon.example");
    assert_eq!(forged.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_permission_consented_later_counts_from_the_next_token_as_graph_reads_the_tokens_roles() {
    let tenant = Tenant::start(&["Calendars.Read"], None).await;
    let before = tenant.app_token().await;
    tenant.register(&["Calendars.ReadWrite"], None).await;
    let (status, _) =
        tenant.call("POST", "/users/ann@salon.example/events", &before, Some(event())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the token issued before the consent lacks it");
    let after = tenant.app_token().await;
    let (status, body) =
        tenant.call("POST", "/users/ann@salon.example/events", &after, Some(event())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Taken back: the token issued before still holds it until it expires.
    tenant.register(&[], None).await;
    let (status, body) =
        tenant.call("GET", "/users/ann@salon.example/calendars", &after, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The test application's certificate with its private key, and its public half.
const CERTIFICATE: &str = include_str!("../../../tests/fixtures/entra/app-certificate.pem");
const UPLOADED: &str = include_str!("../../../tests/fixtures/entra/app-certificate.cer.pem");

/// A client assertion signed by the test certificate's key, `claims` over the correct ones and
/// `thumbprint` (`None`: the certificate's) in its header.
fn assertion(endpoint: &str, claims: Value, thumbprint: Option<&str>) -> String {
    use base64::Engine as _;
    let blocks = pem::parse_many(CERTIFICATE).unwrap();
    let key = blocks.iter().find(|b| b.tag() == "PRIVATE KEY").unwrap();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem::encode(key).as_bytes()).unwrap();
    let digest = <sha2::Sha256 as sha2::Digest>::digest(pem::parse(UPLOADED).unwrap().contents());
    let own = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5t_s256 = Some(thumbprint.map_or(own, str::to_owned));
    let now = chrono::Utc::now().timestamp();
    let mut body = json!({"aud": endpoint, "iss": APP, "sub": APP, "jti": "1", "nbf": now,
        "exp": now + 600});
    body.as_object_mut().unwrap().extend(claims.as_object().unwrap().clone());
    jsonwebtoken::encode(&header, &body, &key).unwrap()
}

#[tokio::test]
async fn a_client_assertion_is_checked_for_its_certificate_audience_ids_and_times() {
    let tenant = Tenant::start(&["Calendars.ReadWrite", "User.Read.All"], None).await;
    let app = json!({"client_id": APP, "certificate": UPLOADED, "roles": ["Calendars.ReadWrite"]});
    tenant.control("POST", "/apps", app).await;
    let endpoint = format!("{}/microsoft/{TENANT_ID}/oauth2/v2.0/token", tenant.base);
    let grant = |jwt: String| {
        let form = [
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", APP.to_owned()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ),
            ("client_assertion", jwt),
            ("scope", GRAPH_DEFAULT_SCOPE.to_owned()),
        ];
        let request = tenant.http.post(&endpoint).form(&form);
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = grant(assertion(&endpoint, json!({}), None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["access_token"].is_string());

    let now = chrono::Utc::now().timestamp();
    for (jwt, code) in [
        (assertion(&endpoint, json!({}), Some("not-its-thumbprint")), "AADSTS700027"),
        (assertion("https://login.example/token", json!({}), None), "AADSTS700027"),
        (
            assertion(&endpoint, json!({"iss": "another-app", "sub": "another-app"}), None),
            "AADSTS700021",
        ),
        (assertion(&endpoint, json!({"nbf": now - 1200, "exp": now - 600}), None), "AADSTS700024"),
        (assertion(&endpoint, json!({"jti": ""}), None), "AADSTS50027"),
    ] {
        let (status, body) = grant(jwt).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.starts_with(code), "{code}: {description}");
    }
    // The application has no secret: none is accepted.
    let (status, _) = tenant.grant(TENANT_ID, APP, "", GRAPH_DEFAULT_SCOPE).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn exchange_grants_an_application_a_groups_calendars_with_nothing_in_its_token() {
    let tenant = Tenant::start(&["GroupMember.Read.All"], None).await;
    let app = json!({
        "client_id": APP, "client_secret": SECRET, "roles": ["GroupMember.Read.All"],
        "exchange_roles": [{"role": "Application Calendars.ReadWrite", "group": "staff-group"}],
    });
    tenant.control("POST", "/apps", app).await;
    let token = tenant.app_token().await;
    let claims = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, claims).unwrap(),
    )
    .unwrap();
    assert_eq!(claims["roles"], json!(["GroupMember.Read.All"]), "Exchange's grant is not in it");

    // A member of the role's scope: read, write, and the default calendar's update.
    let ann = "/users/ann@salon.example";
    let (status, body) = tenant.call("POST", &format!("{ann}/events"), &token, Some(event())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) =
        tenant.call("PATCH", &format!("{ann}/calendar"), &token, Some(json!({}))).await;
    assert_eq!(
        (status, body["isDefaultCalendar"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{body}"
    );
    // Outside it, the plain refusal: nothing about an access policy.
    let (status, body) =
        tenant.call("GET", "/users/cy@salon.example/calendars", &token, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["message"], "Access is denied. Check credentials and try again.");

    // Exchange reads its assignments live: a role that only reads, from the next call on.
    let app = json!({
        "client_id": APP, "client_secret": SECRET, "roles": ["GroupMember.Read.All"],
        "exchange_roles": [{"role": "Application Calendars.Read", "group": "staff-group"}],
    });
    tenant.control("POST", "/apps", app).await;
    let (status, _) = tenant.call("GET", &format!("{ann}/calendars"), &token, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) =
        tenant.call("PATCH", &format!("{ann}/calendar"), &token, Some(json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_default_calendars_update_changes_its_name_and_refuses_what_cannot_be_written() {
    let tenant = Tenant::start(EVERYTHING, None).await;
    let token = tenant.app_token().await;
    let path = "/users/bo@salon.example/calendar";
    let (status, body) = tenant.call("PATCH", path, &token, Some(json!({"name": "Bo's"}))).await;
    assert_eq!((status, body["name"].as_str()), (StatusCode::OK, Some("Bo's")), "{body}");
    let (status, body) = tenant.call("PATCH", path, &token, Some(json!({"owner": "x"}))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("ErrorInvalidProperty"))
    );
    let (_, body) = tenant.call("GET", path, &token, None).await;
    assert_eq!(body["name"], "Bo's");
}
