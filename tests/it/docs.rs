//! The documents that explain the code name only files that exist, and link only inside the
//! repository (a person who clones Kalends has nothing beside it).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The targets of relative Markdown links in `doc`, resolved from its folder; with `quoted`,
/// also the backticked words that look like paths in the repository (`store/src/outbox.rs`,
/// `jobs/src/`): the map names files that way.
fn named_paths(doc: &Path, quoted: bool) -> Vec<(String, PathBuf)> {
    let text = std::fs::read_to_string(root().join(doc)).unwrap();
    let mut paths = Vec::new();
    let words = if quoted { text.split('`').skip(1).step_by(2).collect() } else { Vec::new() };
    for word in words {
        let looks_like_path = word.contains('/')
            && !word.contains("://")
            && word.chars().all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
            && !word.starts_with('/')
            && !word.starts_with("..");
        if looks_like_path {
            paths.push((word.to_owned(), root().join(word)));
        }
    }
    let folder = doc.parent().unwrap_or(Path::new(""));
    for link in text.split("](").skip(1) {
        let target = link.split([')', '#']).next().unwrap_or_default();
        if !target.is_empty() && !target.contains("://") && !target.starts_with("mailto:") {
            paths.push((target.to_owned(), root().join(folder).join(target)));
        }
    }
    paths
}

#[test]
fn every_path_the_architecture_map_names_and_every_link_of_the_docs_exists() {
    let mut missing = Vec::new();
    for doc in
        ["docs/ARCHITECTURE.md", "docs/SECURITY.md", "README.md", "FUZZING.md", "BENCHMARKS.md"]
    {
        let quoted = matches!(doc, "docs/ARCHITECTURE.md" | "docs/SECURITY.md");
        for (named, path) in named_paths(Path::new(doc), quoted) {
            if !path.exists() {
                missing.push(format!("{doc}: {named}"));
            }
        }
    }
    assert!(missing.is_empty(), "named but missing:\n{}", missing.join("\n"));
}

#[test]
fn the_documents_link_only_inside_the_repository() {
    for doc in
        ["docs/ARCHITECTURE.md", "docs/SECURITY.md", "README.md", "docs/API.md", "FUZZING.md"]
    {
        for (named, path) in named_paths(Path::new(doc), false) {
            assert!(
                lexical(&path).starts_with(root()),
                "{doc} links outside the repository: {named}"
            );
        }
    }
}

#[test]
fn every_job_kind_runs_in_the_jobs_file_named_after_it() {
    // `Job::kind` matches every variant (the compiler sees to that), one arm a line:
    // `Job::SyncBookings { .. } => "sync_bookings",`.
    let source = std::fs::read_to_string(root().join("core/src/job.rs")).unwrap();
    let kinds: Vec<&str> = source
        .lines()
        .filter(|line| line.trim_start().starts_with("Job::") && line.contains("=> \""))
        .filter_map(|line| line.split('"').nth(1))
        .collect();
    assert!(kinds.len() >= 10, "read the kinds of core/src/job.rs: {kinds:?}");
    let missing: Vec<_> =
        kinds.iter().filter(|kind| !root().join(format!("jobs/src/{kind}.rs")).exists()).collect();
    assert!(missing.is_empty(), "job kinds without jobs/src/KIND.rs: {missing:?}");
}

/// `path` with its `..` and `.` parts applied, without touching the disk: a link to a file
/// beside the repository counts as outside whether or not that file exists here.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The documents a person reads, as paths from the repository's root: the Markdown files outside
/// `target/` and the build's own folders.
fn documents() -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            let name = entry.file_name();
            let skipped = [".git", "target", "node_modules"].contains(&name.to_str().unwrap_or(""));
            if path.is_dir() && !path.is_symlink() && !skipped {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "md") {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&root(), &mut found);
    found
}

/// Whether `text` speaks of an internal work item by number ("issue 18", "issues 14, 15",
/// "issue #3"), which means nothing to a reader outside the team.
fn names_a_work_item(text: &str) -> bool {
    let lower = text.to_lowercase();
    lower.match_indices("issue").any(|(at, _)| {
        let rest = lower[at + "issue".len()..].strip_prefix('s').unwrap_or(&lower[at + 5..]);
        let rest = rest.strip_prefix(' ').unwrap_or(rest);
        let rest = rest.strip_prefix('#').unwrap_or(rest);
        rest.starts_with(|c: char| c.is_ascii_digit())
    })
}

#[test]
fn no_document_names_an_internal_work_item_by_number() {
    assert!(names_a_work_item("see Issue 18, part 2") && names_a_work_item("issues #14"));
    assert!(!names_a_work_item("a known issue with 2 calendars") && !names_a_work_item("issued"));
    let documents = documents();
    assert!(documents.iter().any(|d| d.ends_with("docs/src/SUMMARY.md")), "read the guide");
    let named: Vec<_> = documents
        .iter()
        .filter(|doc| names_a_work_item(&std::fs::read_to_string(doc).unwrap()))
        .map(|doc| doc.strip_prefix(root()).unwrap_or(doc).display().to_string())
        .collect();
    assert!(
        named.is_empty(),
        "documents naming work items by number (speak of features): {named:?}"
    );
}
