//! The real `kalends` binary: first run, the curl it prints, restart, SIGTERM, the CLI, and the
//! role split as two processes.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::{self, TempDir, eventually};
use crate::split::Split;

const BIN: &str = env!("CARGO_BIN_EXE_kalends");

pub(crate) use crate::ports::free_port;

pub(crate) fn kalends(dir: &TempDir, port: u16) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(&dir.0)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KALENDS_LISTEN", format!("127.0.0.1:{port}"))
        .env("KALENDS_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("KALENDS_CONFIG_DIR", dir.0.join("no-config"))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

pub(crate) async fn terminate(mut child: Child) -> std::process::ExitStatus {
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("exited after SIGTERM")
        .unwrap()
}

/// `kalends ics check --json` of `text` read over `from`..`to`: the JSON it prints (it must
/// succeed, unless the file is cut off, which an import refuses).
pub(crate) async fn ics_check_json(text: &str, from: &str, to: &str) -> Value {
    let dir = TempDir::new();
    let file = dir.0.join("feed.ics");
    std::fs::write(&file, text).unwrap();
    let out = kalends(&dir, free_port())
        .args(["ics", "check", file.to_str().unwrap()])
        .args(["--from", from, "--to", to, "--json"])
        .output()
        .await
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let refused = json["truncated"] == true;
    assert_eq!(out.status.success(), !refused, "{}", String::from_utf8_lossy(&out.stderr));
    json
}

pub(crate) async fn wait_ready(port: u16) {
    let http = crate::helpers::client().build().unwrap();
    eventually(Duration::from_secs(30), || async {
        let r = http.get(format!("http://127.0.0.1:{port}/readyz")).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
}

/// What the first run prints: the API key, the curl line and the console link.
struct Welcome {
    key: String,
    curl: String,
    console: String,
}

/// Reads the child's stdout until the printed curl command is complete; `None` when it ended
/// first (the process stopped).
async fn read_welcome(child: &mut Child) -> Option<Welcome> {
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut key, mut curl, mut console) = (None, String::new(), None);
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.trim().strip_prefix("API key:") {
                key = rest.split_whitespace().next().map(str::to_owned);
            }
            if let Some(rest) = line.trim().strip_prefix("Console:") {
                console = rest.split_whitespace().next().map(str::to_owned);
            }
            if line.trim_start().starts_with("curl ") || !curl.is_empty() {
                curl.push_str(line.trim().trim_end_matches('\\'));
                curl.push(' ');
                if !line.ends_with('\\') {
                    break;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the welcome text was printed");
    Some(Welcome { key: key?, curl, console: console.expect("a console link was printed") })
}

/// `kalends serve` of a first run in `dir`: the process, its port and what it printed. A
/// port another test took between [`free_port`] and the bind (the process says so and stops)
/// is tried again with another; any other early stop fails with what the process said.
async fn first_run(dir: &TempDir) -> (Child, u16, Welcome) {
    for _ in 0..5 {
        let port = free_port();
        let mut child = kalends(dir, port)
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let said = drain(child.stderr.take().unwrap());
        if let Some(welcome) = read_welcome(&mut child).await {
            return (child, port, welcome);
        }
        let status = tokio::time::timeout(Duration::from_secs(15), child.wait()).await;
        let said = said.await.unwrap();
        assert!(said.contains("in use"), "the first run stopped ({status:?}): {said}");
    }
    panic!("no free port in five tries");
}

/// Everything `stream` says until it ends (read meanwhile, so the process never blocks on it).
fn drain(stream: tokio::process::ChildStderr) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut said = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut BufReader::new(stream), &mut said).await.ok();
        said
    })
}

/// A first start that cannot listen (its port taken) stops with a one-line reason and
/// creates nothing: the next start is the first run, and shows the demo's key.
#[tokio::test]
async fn a_first_run_whose_port_is_taken_shows_the_demo_key_at_the_next_start() {
    let dir = TempDir::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = kalends(&dir, port).arg("serve").output();
    let out = tokio::time::timeout(Duration::from_secs(60), out).await.unwrap().unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("in use"), "{said}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("API key"));
    drop(taken);

    let (child, _, welcome) = first_run(&dir).await;
    assert!(welcome.key.starts_with("kal_"), "{}", welcome.key);
    // Stopped the moment it printed its welcome: it had already been listening for the signal.
    let status = terminate(child).await;
    assert!(status.success(), "a SIGTERM right after the welcome exits 0, got {status:?}");
}

#[tokio::test]
async fn first_run_prints_a_demo_key_and_console_link_and_its_curl_booking_survives_a_restart() {
    let dir = TempDir::new();
    let (child, port, Welcome { key, curl, console }) = first_run(&dir).await;
    wait_ready(port).await;
    // The console link opens the demo: its properties, and the conflict its Airbnb import finds.
    let browser = crate::helpers::client()
        .cookie_provider(std::sync::Arc::new(reqwest::cookie::Jar::default()))
        .build()
        .unwrap();
    let overview = browser.get(&console).send().await.unwrap().text().await.unwrap();
    assert!(overview.contains("Sea View Cottage (demo)"), "the console shows the demo: {overview}");
    let conflicts = format!("http://127.0.0.1:{port}/dashboard/conflicts");
    eventually(Duration::from_secs(30), || async {
        let page = browser.get(&conflicts).send().await.ok()?.text().await.ok()?;
        page.contains("Jones (demo)").then_some(())
    })
    .await;
    // Its staff member's calendar is the sandbox's, connected and holding her stays.
    let staff = format!("http://127.0.0.1:{port}/dashboard/staff");
    eventually(Duration::from_secs(30), || async {
        let page = browser.get(&staff).send().await.ok()?.text().await.ok()?;
        (page.contains("Google Calendar") && page.contains("Syncing") && !page.contains("Not yet"))
            .then_some(())
    })
    .await;
    // And the front desk's, through the Microsoft 365 organisation the demo connected.
    let organisation = format!("http://127.0.0.1:{port}/dashboard/organisation");
    let page = browser.get(&organisation).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Microsoft 365 tenant"), "the console shows the organisation: {page}");
    assert!(page.contains("sam@example.com") && page.contains("lea@example.com"), "{page}");
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{curl} -w '\\n%{{http_code}}'"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.trim_end().ends_with("201"), "the printed curl creates a booking: {stdout}");
    let status = terminate(child).await;
    assert!(status.success(), "SIGTERM exits 0, got {status:?}");

    let child = kalends(&dir, port)
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(port).await;
    let list: Value = helpers::answer(
        crate::helpers::client()
            .build()
            .unwrap()
            .get(format!("http://127.0.0.1:{port}/api/v1/bookings"))
            .bearer_auth(&key),
    )
    .await;
    let items = list["items"].as_array().unwrap();
    assert!(
        items.iter().any(|b| b["external_id"] == "demo-1"),
        "the booking survived the restart: {list}"
    );
    let mut child = child;
    let mut banner = String::new();
    let mut stdout = child.stdout.take().unwrap();
    let status = terminate(child).await;
    tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut banner).await.unwrap();
    assert!(status.success());
    assert!(
        !banner.contains("API key"),
        "no second demo tenant on a database that has one: {banner}"
    );
}

#[tokio::test]
async fn dashboard_link_prints_a_one_time_link_and_an_unknown_tenant_fails_with_one_line() {
    let dir = TempDir::new();
    let port = free_port();
    let created = kalends(&dir, port)
        .args(["tenant", "create", "--name", "Sea Breeze", "--json"])
        .output()
        .await
        .unwrap();
    let created: Value = serde_json::from_slice(&created.stdout).unwrap();
    let tenant_id = created["tenant_id"].as_str().unwrap();
    let output =
        kalends(&dir, port).args(["dashboard-link", tenant_id, "--json"]).output().await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "exactly one JSON object: {stdout}");
    let link: Value = serde_json::from_str(&stdout).unwrap();
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("http://127.0.0.1:{port}/dashboard/")), "{url}");
    assert!(link["expires_at"].as_str().is_some());

    let unknown = uuid::Uuid::now_v7().to_string();
    let bad = kalends(&dir, port).args(["dashboard-link", &unknown]).output().await.unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no tenant with id"), "{stderr}");
}

#[tokio::test]
async fn serve_with_no_demo_starts_an_empty_database_without_a_tenant() {
    let dir = TempDir::new();
    let port = free_port();
    let mut child = kalends(&dir, port)
        .args(["serve", "--no-demo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(port).await;
    let mut stdout = child.stdout.take().unwrap();
    let status = terminate(child).await;
    let mut banner = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut banner).await.unwrap();
    assert!(status.success());
    assert!(!banner.contains("API key"), "no demo tenant: {banner}");
    let db = format!("sqlite://{}", dir.0.join("data/kalends.db").display());
    let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
    let (tenants,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM tenants").fetch_one(&pool).await.unwrap();
    assert_eq!(tenants, 0, "the database holds no tenant");
}

#[tokio::test]
async fn config_check_redacts_secrets_and_bad_values_fail_with_one_line() {
    let dir = TempDir::new();
    let output = kalends(&dir, 1)
        .env("KALENDS_DATABASE_URL", "postgres://kal:hunter2@db.example/kalends")
        .env("KALENDS_GOOGLE__CLIENT_SECRET", "goog-very-secret")
        .args(["config", "check"])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success());
    assert!(
        stdout.contains("database_url = postgres://kal:[REDACTED]@db.example/kalends"),
        "{stdout}"
    );
    assert!(stdout.contains("google.client_secret = [REDACTED]"), "{stdout}");
    assert!(!stdout.contains("hunter2") && !stdout.contains("goog-very-secret"));

    let output = kalends(&dir, 1)
        .env("KALENDS_PUBLIC_URL", "ftp://x")
        .args(["config", "check"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("KALENDS_PUBLIC_URL"), "{stderr}");
}

#[tokio::test]
async fn production_profile_without_a_secret_key_refuses_to_start() {
    let dir = TempDir::new();
    let output = kalends(&dir, free_port())
        .env("KALENDS_PROFILE", "production")
        .env("KALENDS_PUBLIC_URL", "https://kalends.example")
        .arg("serve")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!output.status.success());
    assert!(stderr.contains("KALENDS_SECRET_KEY"), "{stderr}");
}

#[tokio::test]
async fn tenant_create_json_prints_exactly_one_object_with_a_working_key() {
    let dir = TempDir::new();
    let output = kalends(&dir, 1)
        .args([
            "tenant",
            "create",
            "--name",
            "Sea Breeze",
            "--timezone",
            "Africa/Johannesburg",
            "--json",
        ])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let created: Value = serde_json::from_str(&stdout).unwrap();
    assert!(created["api_key"].as_str().unwrap().starts_with("kal_"));
    let tenant_id = created["tenant_id"].as_str().unwrap();
    let again =
        kalends(&dir, 1).args(["tenant", "api-key", tenant_id, "--json"]).output().await.unwrap();
    let second: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_ne!(second["api_key"], created["api_key"]);
    let bad = kalends(&dir, 1)
        .args(["tenant", "create", "--name", "X", "--timezone", "Mars/Base"])
        .output()
        .await
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--timezone"));
}

/// An argument is checked before any database is reached, let alone created: a blank name on
/// an empty folder leaves no database file behind.
#[tokio::test]
async fn tenant_create_with_a_blank_name_fails_before_any_database_is_made() {
    let dir = TempDir::new();
    let fresh = dir.0.join("fresh.db");
    let url = format!("sqlite://{}?mode=rwc", fresh.display());
    let bad = kalends(&dir, 1)
        .env("KALENDS_DATABASE_URL", &url)
        .args(["tenant", "create", "--name", " "])
        .output()
        .await
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8(bad.stderr).unwrap();
    assert_eq!(stderr.trim(), "kalends: --name must not be empty");
    assert!(!fresh.exists(), "no database made for a refused command");
}

/// The new tenant's key is shown once and stored only as a hash: when it cannot be printed
/// (a full disk under the redirect), the command fails with one line saying how to get another,
/// never with a panic, and the tenant it made is there for that.
#[tokio::test]
async fn a_tenant_whose_key_cannot_be_printed_is_told_how_to_mint_another() {
    let dir = TempDir::new();
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    // Spawned, not `output()`, which would put its own pipe in place of the full disk.
    let out = kalends(&dir, 1)
        .args(["tenant", "create", "--name", "Sea Breeze"])
        .stdout(Stdio::from(full))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
        .wait_with_output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("mint another with `kalends tenant api-key "), "{stderr}");
    let tenant_id = stderr.split("tenant api-key ").nth(1).unwrap().split('`').next().unwrap();
    let again =
        kalends(&dir, 1).args(["tenant", "api-key", tenant_id, "--json"]).output().await.unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let minted: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert!(minted["api_key"].as_str().unwrap().starts_with("kal_"));
}

#[tokio::test]
#[ignore = "needs PostgreSQL and Redis: run scripts/test"]
async fn api_and_worker_run_as_two_processes_on_postgres_and_redis() {
    let split = Split::new("split", &[]).await;
    let key = split.tenant("Split").await;
    let ops_port = free_port();
    let api = split.start_api().await;
    let worker = split.spawn_worker(Some(ops_port));
    wait_ready(ops_port).await;
    let http = crate::helpers::client().build().unwrap();
    let booking: Value = helpers::answer(
        http.put(split.url("/api/v1/bookings/by-external-id/split-1"))
            .bearer_auth(&key)
            .json(&helpers::booking_body("Split", 3)),
    )
    .await;
    let id: uuid::Uuid = booking["id"].as_str().unwrap().parse().unwrap();
    let pool = sqlx::PgPool::connect(split.database_url()).await.unwrap();
    eventually(Duration::from_secs(15), || async {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sync_attempts WHERE booking_id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
        (n == 1).then_some(())
    })
    .await;
    let metrics = http
        .get(format!("http://127.0.0.1:{ops_port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("kalends_jobs_total"), "the worker ran the job: {metrics}");
    assert!(terminate(api).await.success());
    assert!(terminate(worker).await.success());
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/ics-real/files/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn ics_check_prints_what_an_import_of_the_airbnb_export_would_store() {
    let dir = TempDir::new();
    let out = kalends(&dir, free_port())
        .args(["ics", "check", &fixture("airbnb_rical088_reserved_and_blocked.ics")])
        .args(["--from", "2022-01-01", "--to", "2024-01-01", "--platform", "airbnb", "--json"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "exactly one JSON object");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["events"], 21);
    let busy = json["busy"].as_array().unwrap();
    assert_eq!(busy.len(), 21);
    let kinds = |kind: &str| busy.iter().filter(|b| b["kind"] == kind).count();
    assert_eq!((kinds("reservation"), kinds("block")), (8, 13));
    assert_eq!(
        (busy[0]["start"].as_str(), busy[0]["end"].as_str()),
        (Some("2022-09-16"), Some("2022-09-26"))
    );
    assert_eq!(busy[0]["all_day"], true);

    let text = kalends(&dir, free_port())
        .args(["ics", "check", &fixture("airbnb_rical088_reserved_and_blocked.ics")])
        .args(["--from", "2022-01-01", "--to", "2024-01-01"])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.starts_with("21 VEVENTs; 21 busy occurrences"), "{text}");
}

#[tokio::test]
async fn ics_check_of_a_missing_file_or_a_bad_zone_fails_with_one_line() {
    let dir = TempDir::new();
    for args in [
        vec!["ics", "check", "/nonexistent/feed.ics"],
        vec!["ics", "check", "x.ics", "--zone", "Mars/Olympus"],
        vec!["ics", "check", "ftp://example.com/x.ics"],
    ] {
        let out = kalends(&dir, free_port()).args(&args).output().await.unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
}

/// What an import refuses, `ics check` refuses too, after its report when it has one, with one
/// line saying why and a failing exit: a script that checks a feed before registering it never
/// registers one that fails its first run.
#[tokio::test]
async fn ics_check_fails_with_one_line_for_whatever_an_import_would_refuse() {
    let dir = TempDir::new();
    let event = |uid: &str| {
        format!(
            "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTART;VALUE=DATE:20300301\r\n\
             DTEND;VALUE=DATE:20300303\r\nEND:VEVENT\r\n"
        )
    };
    let events: String = (0..20).map(|n| event(&n.to_string())).collect();
    let whole = format!("BEGIN:VCALENDAR\r\n{events}END:VCALENDAR\r\n");
    assert!(whole.len() > 1024, "over the least import.max_bytes");
    let files = [
        ("empty.ics", String::new()),
        ("login.html", "<!DOCTYPE html><title>Log in</title>".to_owned()),
        ("cut.ics", format!("BEGIN:VCALENDAR\r\n{}", event("a"))),
        ("whole.ics", whole.clone()),
    ];
    for (name, text) in &files {
        std::fs::write(dir.0.join(name), text).unwrap();
    }
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 5] = [
        ("empty.ics", &[], "is not an iCalendar file"),
        ("login.html", &[], "is not an iCalendar file"),
        ("cut.ics", &[], "the feed is cut off"),
        ("whole.ics", &[("KALENDS_IMPORT__MAX_EVENTS", "1")], "more than the 1 an import reads"),
        ("whole.ics", &[("KALENDS_IMPORT__MAX_BYTES", "1024")], "more than the 1024 an import"),
    ];
    for (name, env, why) in cases {
        let path = dir.0.join(name);
        let mut command = kalends(&dir, free_port());
        command.envs(env.iter().copied()).args(["ics", "check", path.to_str().unwrap()]);
        let out = command.output().await.unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(!out.status.success(), "{name} {env:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{name} {env:?}: {stderr}");
        assert!(stderr.contains(why), "{name} {env:?}: {stderr}");
    }
    // Standard input is held to the same size.
    let mut child = kalends(&dir, free_port())
        .env("KALENDS_IMPORT__MAX_BYTES", "1024")
        .args(["ics", "check", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, whole.as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success() && stderr.contains("more than the 1024 bytes"), "{stderr}");
    // And a whole file within the limits passes.
    let path = dir.0.join("whole.ics");
    let mut command = kalends(&dir, free_port());
    let out = command.args(["ics", "check", path.to_str().unwrap()]).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn kalends_sandbox_serves_the_consent_pages_and_prints_how_to_point_kalends_at_it() {
    let dir = TempDir::new();
    let port = free_port();
    let mut child = kalends(&dir, 8080)
        .args(["sandbox", "--listen", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut printed = String::new();
    while !printed.contains("GRAPH_BASE_URL") {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .unwrap()
            .unwrap();
        printed.push_str(&line.unwrap());
        printed.push('\n');
    }
    let base = format!("http://127.0.0.1:{port}");
    assert!(
        printed.contains(&format!("KALENDS_GOOGLE__API_BASE_URL={base}/google/calendar/v3/")),
        "{printed}"
    );
    let consent = reqwest::get(format!(
        "{base}/google/o/oauth2/v2/auth?client_id=kalends-sandbox.apps.googleusercontent.com\
         &redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Foauth%2Fgoogle%2Fcallback&response_type=code&scope=openid"
    ))
    .await
    .unwrap();
    assert_eq!(consent.status(), 200);
    assert!(consent.text().await.unwrap().contains("Allow Kalends to manage your calendar?"));
    let stranger = reqwest::get(format!(
        "{base}/google/o/oauth2/v2/auth?client_id=someone-else&redirect_uri=http%3A%2F%2Fevil.example%2F&response_type=code&scope=openid"
    ))
    .await
    .unwrap();
    assert_eq!(stranger.status(), 401, "an unknown client is refused, never redirected");
    assert!(terminate(child).await.success());
}
