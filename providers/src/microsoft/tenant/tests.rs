//! An organisation's application against the sandbox's tenant (nested under a prefix, as
//! Kalends mounts it), through the oauth2 crate and graph-rs-sdk.

use std::time::Duration;

use axum::Router;
use kalends_sandbox::{Sandbox, SandboxConfig};
use secrecy::SecretString;
use serde_json::{Value, json};

use super::{GROUP_PERMISSION, Tenant, TenantError, USERS_PERMISSION};
use crate::calendar::{Change, ChangeSet};
use crate::microsoft::MicrosoftCalendar;
use crate::microsoft::tests::{draft, serve, window};

const TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const APP: &str = "0d6c1f52-7a43-4b1e-9a58-7e6e616e7431";
const SECRET: &str = "app-secret-value";
const EVERYTHING: &[&str] = &["Calendars.ReadWrite", "User.Read.All", "GroupMember.Read.All"];

/// The sandbox under `/sandbox` with the salon's tenant: three users, a group of two.
struct Harness {
    root: String,
    http: reqwest::Client,
}

impl Harness {
    async fn start() -> Self {
        let sandbox = Sandbox::new(SandboxConfig::for_public_url("http://127.0.0.1:9"));
        let http = kalends_sandbox::control_client(&sandbox);
        let root = serve(Router::new().nest("/sandbox", sandbox.router())).await;
        let harness = Self { root: format!("{root}/sandbox"), http };
        for name in ["ann@salon.example", "bo@salon.example", "cy@salon.example"] {
            harness.control("POST", "/users", json!({"user_principal_name": name})).await;
        }
        let staff = json!({"members": ["ann@salon.example", "bo@salon.example"]});
        harness.control("PUT", "/groups/staff-group", staff).await;
        harness
    }

    async fn control(&self, method: &str, path: &str, body: Value) {
        let url = format!("{}/_control/entra{path}", self.root);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = self.http.request(method, url).json(&body).send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
    }

    async fn register(&self, roles: &[&str], access_group: Option<&str>) {
        let app = json!({
            "client_id": APP, "client_secret": SECRET, "roles": roles, "access_group": access_group,
        });
        self.control("POST", "/apps", app).await;
    }

    fn graph(&self) -> MicrosoftCalendar {
        MicrosoftCalendar::new(&format!("{}/microsoft/v1.0", self.root), Duration::from_secs(5))
            .unwrap()
    }

    fn tenant(&self, secret: &str) -> Tenant {
        let secret = SecretString::from(secret.to_owned());
        let authority = format!("{}/microsoft", self.root);
        Tenant::new(TENANT_ID, APP, &secret, &authority, self.graph(), Duration::from_secs(5))
            .unwrap()
    }
}

#[tokio::test]
async fn an_organisation_token_reads_the_directory_and_books_into_each_staff_calendar() {
    let harness = Harness::start().await;
    harness.register(EVERYTHING, None).await;
    let tenant = harness.tenant(SECRET);
    let token = tenant.app_token().await.unwrap();
    assert!(token.expires_at > chrono::Utc::now() + chrono::Duration::minutes(50));
    let everyone = tenant.directory(&token.token, None).await.unwrap();
    let emails: Vec<&str> = everyone.iter().map(|user| user.email.as_str()).collect();
    assert_eq!(emails, ["ann@salon.example", "bo@salon.example", "cy@salon.example"]);
    let staff = tenant.directory(&token.token, Some("staff-group")).await.unwrap();
    assert_eq!(staff.len(), 2);
    let ann = &staff[0];
    let calendars = tenant.calendars(&token.token, ann).await.unwrap();
    let default = calendars.iter().find(|calendar| calendar.primary).unwrap();

    // The booking lands in Ann's calendar, and her calendar's changes show it.
    let graph = harness.graph();
    let as_ann = token.token.clone().for_mailbox(&ann.id);
    let draft = draft(1, "2026-03-10T09:00:00Z", "2026-03-10T10:00:00Z");
    let event = graph.upsert_event(&as_ann, &default.id, &draft, None).await.unwrap();
    let ChangeSet::Changes { changes, next_cursor } =
        graph.changes(&as_ann, None, window()).await.unwrap()
    else {
        panic!("a first round has changes");
    };
    assert!(changes.iter().any(|change| matches!(change, Change::Upserted(e) if e.id == event.id)));
    // The cursor names Ann's mailbox, so the next round reads hers again.
    assert!(next_cursor.contains("/users/"), "{next_cursor}");
    graph.delete_event(&as_ann, &event.id).await.unwrap();
    let round = graph.changes(&as_ann, Some(&next_cursor), window()).await.unwrap();
    assert!(
        matches!(round, ChangeSet::Changes { changes, .. } if changes.iter().any(|c| matches!(c, Change::Deleted { id } if *id == event.id)))
    );
    // Bo's calendar is not Ann's.
    let bo = token.token.clone().for_mailbox(&staff[1].id);
    assert!(graph.get_event(&bo, &event.id).await.unwrap().is_none());
}

#[tokio::test]
async fn the_directory_tells_accounts_without_a_mailbox_on_every_page_of_both_listings() {
    let harness = Harness::start().await;
    harness.register(EVERYTHING, None).await;
    // 1,200 users: the listing asks 100 a page, so the last two are on its twelfth.
    for n in 0..1_197 {
        let user = json!({"user_principal_name": format!("u{n:04}@salon.example")});
        harness.control("POST", "/users", user).await;
    }
    for name in ["bo@salon.example", "u1196@salon.example"] {
        let unlicensed = json!({"user_principal_name": name, "mailbox": false});
        harness.control("POST", "/users", unlicensed).await;
    }
    let tenant = harness.tenant(SECRET);
    let token = tenant.app_token().await.unwrap();
    let everyone = tenant.directory(&token.token, None).await.unwrap();
    assert_eq!(everyone.len(), 1_200);
    let without: Vec<&str> =
        everyone.iter().filter(|user| !user.mailbox).map(|user| user.email.as_str()).collect();
    assert_eq!(without, ["bo@salon.example", "u1196@salon.example"]);
    let staff = tenant.directory(&token.token, Some("staff-group")).await.unwrap();
    let mailboxes: Vec<(&str, bool)> =
        staff.iter().map(|user| (user.email.as_str(), user.mailbox)).collect();
    assert_eq!(mailboxes, [("ann@salon.example", true), ("bo@salon.example", false)]);
}

#[test]
fn only_a_working_exchange_plan_that_brings_a_mailbox_counts_as_one() {
    let plan = |service: &str, status: &str, id: &str| json!({"service": service, "capabilityStatus": status, "servicePlanId": id});
    let mailbox = |plans: Option<Vec<Value>>| {
        let mut entry = json!({"id": "1", "userPrincipalName": "ann@salon.example"});
        if let Some(plans) = plans {
            entry["assignedPlans"] = json!(plans);
        }
        let entry: crate::microsoft::wire::DirectoryEntry = serde_json::from_value(entry).unwrap();
        entry.has_mailbox()
    };
    let plan_2 = "efb87545-963c-4e0d-99df-69c6916d9eb0";
    let foundation = "113feb6c-3fe4-4440-bddc-54d774bf0318";
    assert!(mailbox(None), "unknown: Graph's answer for the mailbox decides");
    assert!(mailbox(Some(vec![plan("exchange", "Enabled", plan_2)])));
    assert!(mailbox(Some(vec![plan("Exchange", "Warning", plan_2)])), "a licence's grace period");
    assert!(!mailbox(Some(vec![])));
    for status in ["Suspended", "Deleted", "LockedOut"] {
        assert!(!mailbox(Some(vec![plan("exchange", status, plan_2)])), "{status}");
    }
    assert!(!mailbox(Some(vec![plan(
        "SharePoint",
        "Enabled",
        "5dbe027f-2339-4123-9542-606e4d348a72"
    )])));
    let power_bi_alone =
        vec![plan("exchange", "Enabled", foundation), plan("exchange", "Deleted", plan_2)];
    assert!(!mailbox(Some(power_bi_alone)), "Exchange Foundation brings no mailbox");
}

#[tokio::test]
async fn each_refusal_names_what_the_administrator_must_fix() {
    let harness = Harness::start().await;
    harness.register(&["Calendars.Read"], Some("staff-group")).await;
    let refused = harness.tenant("a-secret-id-not-its-value").app_token().await.unwrap_err();
    assert!(
        matches!(&refused, TenantError::Refused(why) if why.starts_with("AADSTS7000215")),
        "{refused}"
    );
    assert!(refused.to_string().contains("client secret's value"), "{refused}");

    let tenant = harness.tenant(SECRET);
    let token = tenant.app_token().await.unwrap();
    let error = tenant.directory(&token.token, None).await.unwrap_err();
    assert!(matches!(error, TenantError::MissingPermission(USERS_PERMISSION)), "{error}");
    let error = tenant.directory(&token.token, Some("staff-group")).await.unwrap_err();
    assert!(matches!(error, TenantError::MissingPermission(GROUP_PERMISSION)), "{error}");
    assert!(error.to_string().contains("grant admin consent"), "{error}");

    harness
        .register(&["Calendars.Read", "User.Read.All", "GroupMember.Read.All"], Some("staff-group"))
        .await;
    // The token issued before the consent still lacks it (Graph reads a token's roles); a new
    // one holds it.
    let error = tenant.directory(&token.token, None).await.unwrap_err();
    assert!(matches!(error, TenantError::MissingPermission(USERS_PERMISSION)), "{error}");
    let token = tenant.new_app_token().await.unwrap();
    let users = tenant.directory(&token.token, None).await.unwrap();
    let error = tenant.directory(&token.token, Some("no-such-group")).await.unwrap_err();
    assert!(matches!(error, TenantError::UnknownGroup(_)), "{error}");
    // Cy is outside the group the application is scoped to.
    let cy = users.iter().find(|user| user.email.starts_with("cy@")).unwrap();
    let error = tenant.calendars(&token.token, cy).await.unwrap_err();
    assert!(
        matches!(&error, TenantError::OutsideScope(who) if who == "cy@salon.example"),
        "{error}"
    );
    // Ann is in scope, but reading is all the application may do.
    let ann = users.iter().find(|user| user.email.starts_with("ann@")).unwrap();
    let calendars = tenant.calendars(&token.token, ann).await.unwrap();
    let as_ann = token.token.clone().for_mailbox(&ann.id);
    let written = harness
        .graph()
        .upsert_event(
            &as_ann,
            &calendars[0].id,
            &draft(2, "2026-03-11T09:00:00Z", "2026-03-11T10:00:00Z"),
            None,
        )
        .await
        .unwrap_err();
    let error = super::refusal(written, &ann.email, super::CALENDAR_PERMISSION);
    assert!(matches!(error, TenantError::MissingPermission("Calendars.ReadWrite")), "{error}");
}

/// An application token whose claims hold `roles` (unsigned: only its claims are read).
fn token_with_roles(roles: &[&str]) -> crate::calendar::AccessToken {
    use base64::Engine as _;
    let claims = json!({"tid": "tenant", "roles": roles}).to_string();
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims);
    crate::calendar::AccessToken::new(format!("e30.{payload}.signature"))
}

#[test]
fn a_mailbox_refused_to_an_application_exchange_grants_alone_is_outside_its_roles_scope() {
    let plain = || crate::ProviderError::permanent(403, "ErrorAccessDenied: Access is denied.");
    let by_exchange = token_with_roles(&["User.Read.All"]);
    let consented = token_with_roles(&["User.Read.All", "Calendars.ReadWrite"]);
    let who = "bo@salon.example";

    let error = super::mailbox_refusal(plain(), &by_exchange, who, "Calendars.ReadWrite");
    assert!(matches!(&error, TenantError::OutsideRole(user) if user == who), "{error}");
    // Consented in Entra, the application reaches every mailbox: a plain 403 is a permission.
    let error = super::mailbox_refusal(plain(), &consented, who, "Calendars.ReadWrite");
    assert!(matches!(error, TenantError::MissingPermission("Calendars.ReadWrite")), "{error}");
    // An access policy says so in its words, whichever grant is in use.
    let policy = crate::ProviderError::permanent(
        403,
        "ErrorAccessDenied: Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.",
    );
    let error = super::mailbox_refusal(policy, &by_exchange, who, "Calendars.ReadWrite");
    assert!(matches!(error, TenantError::OutsideScope(_)), "{error}");
    // A token that is not a JWT tells nothing: the permission is named, as before.
    let opaque = crate::calendar::AccessToken::new("opaque");
    let error = super::mailbox_refusal(plain(), &opaque, who, "Calendars.Read");
    assert!(matches!(error, TenantError::MissingPermission("Calendars.Read")), "{error}");
    // A Graph failure is not a refusal.
    let failed = crate::ProviderError::transient("503 serviceNotAvailable");
    let error = super::mailbox_refusal(failed, &by_exchange, who, "Calendars.Read");
    assert!(matches!(error, TenantError::Provider(_)), "{error}");
}
