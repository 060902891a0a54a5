//! The Kubernetes manifests under `deploy/kubernetes/` pass `yamllint -d
//! relaxed` and `kubernetes-validate --strict` (both from the test peers'
//! venv: `make peers-install`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../../treebeard-alerting/tests/common/mod.rs"]
mod common;

use std::path::PathBuf;

fn manifests() -> Vec<PathBuf> {
    let dir = common::workspace_root().join("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.yaml in {}", dir.display());
    files
}

/// Runs a tool of the venv on every manifest; fails with its output.
fn check(tool: &str, args: &[&str]) {
    let bin = common::venv_python().with_file_name(tool);
    assert!(
        bin.exists(),
        "{} is missing: run `make peers-install` (tests/peers/requirements.txt pins it)",
        bin.display()
    );
    let out = std::process::Command::new(&bin)
        .args(args)
        .args(manifests())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{tool} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn manifests_pass_yamllint() {
    check("yamllint", &["-d", "relaxed", "--strict"]);
}

#[test]
fn manifests_pass_kubernetes_validate_strict() {
    check("kubernetes-validate", &["--strict", "--quiet"]);
}

#[test]
fn the_digest_cronjobs_run_daily_and_on_mondays() {
    let text = std::fs::read_to_string(
        common::workspace_root().join("deploy/kubernetes/alert-digest-cronjob.yaml"),
    )
    .unwrap();
    assert!(text.contains("schedule: \"0 7 * * *\""), "{text}");
    assert!(text.contains("schedule: \"0 7 * * 1\""), "{text}");
    for period in ["daily", "weekly"] {
        assert!(
            text.contains(&format!("- --period\n                - {period}")),
            "{text}"
        );
    }
}
