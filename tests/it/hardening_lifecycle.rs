//! Lifecycle hardening: API keys can be revoked, the secret key can be rotated, stale e-mail
//! claims and lost sync jobs are repaired, invite links expire, and history stays bounded.

use serde_json::Value;

use crate::helpers::{Db, TestApp, on_both_databases};
use crate::process::{free_port, kalends};

on_both_databases!(a_revoked_api_key_answers_401_at_once_and_the_last_active_key_cannot_be_revoked,);

/// The key ids of `GET /api/v1/api-keys`, with their `revoked_at`.
async fn listed_keys(app: &TestApp, key: &str) -> Vec<(String, Value)> {
    let (status, body) = app.call("GET", "/api/v1/api-keys", key, None).await;
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            assert!(k.get("key_hash").is_none() && k.get("api_key").is_none(), "no secret: {k}");
            (k["id"].as_str().unwrap().to_owned(), k["revoked_at"].clone())
        })
        .collect()
}

async fn a_revoked_api_key_answers_401_at_once_and_the_last_active_key_cannot_be_revoked(db: Db) {
    let app = TestApp::start(db, false).await;
    let (tenant, first) = app.tenant().await;
    let second =
        secrecy::ExposeSecret::expose_secret(&app.store.create_api_key(tenant.id).await.unwrap())
            .to_owned();
    let keys = listed_keys(&app, &first).await;
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|(_, revoked)| revoked.is_null()));
    let (status, body) = app.call("GET", "/api/v1/api-keys", &first, None).await;
    let current: Vec<&Value> =
        body["items"].as_array().unwrap().iter().filter(|k| k["current"] == true).collect();
    assert_eq!(current.len(), 1, "{status} {body}");
    assert!(first.starts_with(current[0]["prefix"].as_str().unwrap()));
    let first_id = current[0]["id"].as_str().unwrap().to_owned();
    let second_id = keys.iter().find(|(id, _)| *id != first_id).unwrap().0.clone();

    // Another tenant cannot see or revoke these keys.
    let (_, stranger) = app.tenant().await;
    let (status, _) =
        app.call("DELETE", &format!("/api/v1/api-keys/{first_id}"), &stranger, None).await;
    assert_eq!(status, 404);

    // A key may revoke itself while another active key remains; it is refused at once.
    let (status, body) =
        app.call("DELETE", &format!("/api/v1/api-keys/{first_id}"), &first, None).await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = app.call("GET", "/api/v1/bookings", &first, None).await;
    assert_eq!(status, 401);
    let keys = listed_keys(&app, &second).await;
    let revoked = keys.iter().find(|(id, _)| *id == first_id).unwrap();
    assert!(revoked.1.is_string(), "revoked_at is set: {keys:?}");

    // Revoking again is harmless; the last active key cannot lock the tenant out.
    let (status, _) =
        app.call("DELETE", &format!("/api/v1/api-keys/{first_id}"), &second, None).await;
    assert_eq!(status, 204);
    let (status, body) =
        app.call("DELETE", &format!("/api/v1/api-keys/{second_id}"), &second, None).await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = app.call("GET", "/api/v1/bookings", &second, None).await;
    assert_eq!(status, 200);
    let (status, _) = app
        .call("DELETE", &format!("/api/v1/api-keys/{}", uuid::Uuid::now_v7()), &second, None)
        .await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn the_cli_revokes_a_key_with_one_line_and_fails_on_an_unknown_key() {
    let dir = crate::helpers::TempDir::new();
    let created = kalends(&dir, 1)
        .args(["tenant", "create", "--name", "Sea Breeze", "--json"])
        .output()
        .await
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let created: Value = serde_json::from_slice(&created.stdout).unwrap();
    let tenant_id = created["tenant_id"].as_str().unwrap().to_owned();
    let key = created["api_key"].as_str().unwrap().to_owned();

    // Find the key's id through the API of a server on the same database.
    let port = free_port();
    let mut server = kalends(&dir, port).args(["serve"]).spawn().unwrap();
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/api/v1/api-keys");
    let listed: Value = crate::helpers::eventually(std::time::Duration::from_secs(20), || async {
        let response = http.get(&url).bearer_auth(&key).send().await.ok()?;
        response.json().await.ok()
    })
    .await;
    let key_id = listed["items"][0]["id"].as_str().unwrap().to_owned();

    let out = kalends(&dir, 1)
        .args(["tenant", "api-key", &tenant_id, "--revoke", &key_id])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains(&key_id) && stdout.contains("revoked"), "{stdout}");
    let status = http.get(&url).bearer_auth(&key).send().await.unwrap().status();
    assert_eq!(status.as_u16(), 401);

    let json = kalends(&dir, 1)
        .args(["tenant", "api-key", &tenant_id, "--revoke", &key_id, "--json"])
        .output()
        .await
        .unwrap();
    assert!(json.status.success());
    let object: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(object["api_key_id"], key_id.as_str());
    assert!(object["revoked_at"].is_string(), "{object}");

    let unknown = uuid::Uuid::now_v7().to_string();
    let out = kalends(&dir, 1)
        .args(["tenant", "api-key", &tenant_id, "--revoke", &unknown])
        .output()
        .await
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&unknown));
    server.kill().await.unwrap();
}
