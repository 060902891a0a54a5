//! `monitors validate` prints problems with file and line and fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

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

#[test]
fn shipped_config_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../infrastructure/alerting-config.yml");
    let (ok, stdout, stderr) = validate(&path);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("11 alerts OK"));
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
