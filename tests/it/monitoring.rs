//! The monitoring files an operator installs (`deploy/prometheus/alerts.yml`,
//! `deploy/grafana/kalends.json`) and the guide's metrics list name only metrics Kalends exports,
//! and the list names every one: a renamed metric cannot leave an alert silently dead.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The words of `text` that look like a Kalends metric (`kalends_` then lowercase letters, digits
/// and underscores), less a histogram series' suffix: `kalends_job_duration_seconds_bucket` is
/// the histogram `kalends_job_duration_seconds`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("kalends_") {
        let starts_a_word =
            !rest[..at].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        if starts_a_word && name.len() > "kalends_".len() {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name);
            names.insert(base.to_owned());
        }
        rest = &tail[end.max(1)..];
    }
    names
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The workspace's member crates, as the root `Cargo.toml` lists them (`members = [...]`).
fn workspace_members() -> Vec<String> {
    let manifest = read("Cargo.toml");
    let line = manifest
        .lines()
        .find(|line| line.trim_start().starts_with("members"))
        .expect("the root Cargo.toml lists its members on one line");
    let list = line.split_once('[').and_then(|(_, rest)| rest.split_once(']')).unwrap().0;
    let members: Vec<String> = list
        .split(',')
        .map(|m| m.trim().trim_matches('"').to_owned())
        .filter(|m| !m.is_empty())
        .collect();
    assert!(members.len() >= 5, "members read from Cargo.toml: {members:?}");
    members
}

/// The metrics the application records: the first argument of each `counter!`, `gauge!` and
/// `histogram!` in the binary's own code and every crate of the workspace (a new crate is
/// scanned without anyone remembering to add it here).
fn exported() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    for member in workspace_members() {
        rust_files(&root().join(member).join("src"), &mut files);
    }
    let mut names = BTreeSet::new();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        for macro_call in ["counter!(\"", "gauge!(\"", "histogram!(\""] {
            for after in source.split(macro_call).skip(1) {
                names.insert(after.split('"').next().unwrap_or_default().to_owned());
            }
        }
    }
    names
}

/// The expressions of the dashboard's panels, read as JSON (a dashboard that does not parse
/// fails here, not when an operator imports it).
fn dashboard_expressions() -> String {
    let dashboard: serde_json::Value = serde_json::from_str(&read("deploy/grafana/kalends.json"))
        .expect("deploy/grafana/kalends.json is JSON");
    let panels = dashboard["panels"].as_array().expect("the dashboard has panels");
    assert!(!panels.is_empty(), "the dashboard has panels");
    let mut expressions = String::new();
    for panel in panels {
        let targets = panel["targets"].as_array().expect("every panel has targets");
        for target in targets {
            let expr = target["expr"].as_str().expect("every target has an expr");
            expressions.push_str(expr);
            expressions.push('\n');
        }
    }
    expressions
}

#[test]
fn every_metric_the_alerts_and_the_dashboard_name_is_one_kalends_exports() {
    let exported = exported();
    assert!(
        exported.contains("kalends_http_requests_total") && exported.len() >= 10,
        "read the application's metrics: {exported:?}"
    );
    for (file, named) in [
        ("deploy/prometheus/alerts.yml", metric_names(&read("deploy/prometheus/alerts.yml"))),
        ("deploy/grafana/kalends.json", metric_names(&dashboard_expressions())),
    ] {
        assert!(!named.is_empty(), "{file} names no Kalends metric");
        let unknown: Vec<_> = named.difference(&exported).collect();
        assert!(unknown.is_empty(), "{file} names metrics Kalends does not export: {unknown:?}");
    }
}

#[test]
fn the_guides_metrics_list_names_every_exported_metric_and_no_other() {
    let page = metric_names(&read("docs/src/operators/monitoring.md"));
    let exported = exported();
    let missing: Vec<_> = exported.difference(&page).collect();
    assert!(missing.is_empty(), "metrics missing from the monitoring page: {missing:?}");
    let unknown: Vec<_> = page.difference(&exported).collect();
    assert!(unknown.is_empty(), "the monitoring page names metrics that do not exist: {unknown:?}");
}

#[test]
fn a_histograms_series_are_read_as_the_histogram() {
    let names = metric_names("rate(kalends_job_duration_seconds_bucket[5m]) kalends_queue_depth");
    let expected: BTreeSet<String> =
        ["kalends_job_duration_seconds", "kalends_queue_depth"].map(String::from).into();
    assert_eq!(names, expected);
}
