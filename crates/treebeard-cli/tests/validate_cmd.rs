//! `monitors validate` prints problems with file and line and fails, also
//! when an alert names a runbook whose `docs/runbooks/<name>.md` is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn validate(path: &std::path::Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_treebeard"))
        .args(["monitors", "validate", "--file"])
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shipped rules validate, runbook files included, and every alert
/// names a runbook of `docs/runbooks/` (so none still points at the
/// placeholder host of the reference).
#[test]
fn shipped_config_is_valid() {
    let path = workspace().join("infrastructure/alerting-config.yml");
    let (ok, stdout, stderr) = validate(&path);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("11 alerts OK"));
    let text = std::fs::read_to_string(&path).unwrap();
    let runbooks: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("runbook: "))
        .collect();
    assert_eq!(runbooks.len(), 11);
    for name in runbooks {
        assert!(
            workspace()
                .join(format!("docs/runbooks/{name}.md"))
                .is_file(),
            "{name}"
        );
    }
}

/// A copy of the repository's layout in a temp dir: `.git`, the shipped
/// rules under `infrastructure/`, and the runbooks but `leave_out`.
fn repo_copy(leave_out: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    std::fs::create_dir(dir.path().join("infrastructure")).unwrap();
    let rules = dir.path().join("infrastructure/alerting-config.yml");
    std::fs::copy(
        workspace().join("infrastructure/alerting-config.yml"),
        &rules,
    )
    .unwrap();
    let runbooks = dir.path().join("docs/runbooks");
    std::fs::create_dir_all(&runbooks).unwrap();
    for entry in std::fs::read_dir(workspace().join("docs/runbooks")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != leave_out {
            std::fs::copy(entry.path(), runbooks.join(entry.file_name())).unwrap();
        }
    }
    (dir, rules)
}

#[test]
fn a_missing_runbook_file_fails_naming_the_alert() {
    let (_whole, rules) = repo_copy("");
    let (ok, _, stderr) = validate(&rules);
    assert!(ok, "the copy itself must be valid: {stderr}");

    let (dir, rules) = repo_copy("cpu.md");
    let (ok, _, stderr) = validate(&rules);
    assert!(!ok);
    let line = std::fs::read_to_string(&rules)
        .unwrap()
        .lines()
        .position(|l| l.trim() == "runbook: cpu")
        .unwrap()
        + 1;
    let missing = dir.path().join("docs/runbooks/cpu.md");
    assert!(
        stderr.contains(&format!(
            "alerting-config.yml:line {line}: alert `CPU above 70%`: runbook `cpu` has no file: {} is missing",
            missing.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("1 problem(s)"), "only that alert: {stderr}");
}

/// Outside any repository (no `.git`, no `docs/runbooks` above the file) a
/// runbook name cannot be checked: an error says so; a full URL is fine.
#[test]
fn a_runbook_name_needs_a_repository_and_a_url_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.yml");
    let rules = |runbook: &str| {
        format!(
            "notifications:\n  slack: {{ channel: alerts }}\nalerts:\n  - name: Slow\n    query: \"p95:treebeard.api.request.duration{{*}}\"\n    thresholds: {{ critical: 2 }}\n    severity: high\n    description: d\n    runbook: {runbook}\n"
        )
    };
    std::fs::write(&path, rules("api-latency")).unwrap();
    let (ok, _, stderr) = validate(&path);
    assert!(!ok);
    assert!(
        stderr.contains("alert `Slow`: runbook `api-latency` is a name, but no docs/runbooks directory or repository (.git) was found above"),
        "{stderr}"
    );

    std::fs::write(&path, rules("https://wiki.example/slow")).unwrap();
    let (ok, _, stderr) = validate(&path);
    assert!(ok, "{stderr}");

    std::fs::write(&path, rules("see the wiki")).unwrap();
    let (ok, _, stderr) = validate(&path);
    assert!(!ok);
    assert!(
        stderr.contains("line 9: alert `Slow`: runbook `see the wiki` must be an http(s) link or the name of a runbook file docs/runbooks/<name>.md"),
        "{stderr}"
    );
}

#[test]
fn semantic_and_syntax_errors_carry_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.yml");
    std::fs::write(
        &path,
        "notifications:\n  slack: { channel: alerts }\nalerts:\n  - name: Typo\n    query: \"avg:treebeard.api.request.durration{*}\"\n    thresholds: { critical: 2 }\n    severity: high\n    description: d\n    runbook: https://r.example\n",
    )
    .unwrap();
    let (ok, _, stderr) = validate(&path);
    assert!(!ok);
    assert!(
        stderr.contains(
            "alerts.yml:line 5: alert `Typo`: unknown metric `treebeard.api.request.durration`"
        ),
        "{stderr}"
    );

    std::fs::write(&path, "alerts:\n  - name: x\n    query: [unclosed\n").unwrap();
    let (ok, _, stderr) = validate(&path);
    assert!(!ok);
    assert!(stderr.contains(":line 3"), "{stderr}");
}

#[test]
fn missing_file_is_an_error() {
    let (ok, _, stderr) = validate(std::path::Path::new("/nonexistent/alerts.yml"));
    assert!(!ok);
    assert!(
        stderr.contains("cannot read /nonexistent/alerts.yml"),
        "{stderr}"
    );
}
