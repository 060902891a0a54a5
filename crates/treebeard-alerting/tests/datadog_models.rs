//! Generated monitors and dashboards deserialise into DataDog's own models
//! (PyPI datadog-api-client, type checking on), and the checked-in
//! dashboards are exactly what the code generates.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use treebeard_alerting::{dashboards, metrics, monitors, query, validate};

#[test]
fn monitors_match_the_datadog_monitor_model() {
    let config =
        validate::load(common::workspace_root().join("infrastructure/alerting-config.yml"))
            .unwrap();
    let m = monitors::generate(&config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("monitors.json");
    std::fs::write(&file, serde_json::to_string(&m).unwrap()).unwrap();
    let out = common::run_python("validate_datadog.py", &["monitor", file.to_str().unwrap()]);
    assert!(out.contains(&format!("{} monitor(s) OK", m.len())), "{out}");
}

#[test]
fn dashboards_match_the_datadog_dashboard_model() {
    let dir = common::workspace_root().join(dashboards::DEFAULT_DIR);
    for d in dashboards::all("treebeard") {
        let file = dir.join(dashboards::file_name(&d));
        let out = common::run_python(
            "validate_datadog.py",
            &["dashboard", file.to_str().unwrap()],
        );
        assert!(out.contains("1 dashboard(s) OK"), "{out}");
    }
}

#[test]
fn the_validator_rejects_a_bad_widget() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    std::fs::write(
        &file,
        r#"{"title":"x","layout_type":"ordered","widgets":[{"definition":{"type":"no_such_widget"}}]}"#,
    )
    .unwrap();
    let status = std::process::Command::new(common::venv_python())
        .arg(common::peer_script("validate_datadog.py"))
        .args(["dashboard", file.to_str().unwrap()])
        .output()
        .unwrap()
        .status;
    assert!(!status.success());
}

#[test]
fn checked_in_dashboards_are_in_sync_with_the_code() {
    let dir = common::workspace_root().join(dashboards::DEFAULT_DIR);
    let stale = dashboards::out_of_date(&dir, "treebeard");
    assert!(
        stale.is_empty(),
        "{stale:?} differ from the generated dashboards: run `cargo run -p treebeard-cli -- dashboards generate`"
    );
}

#[test]
fn dashboards_cover_the_four_reference_dashboards_with_known_metrics() {
    let all = dashboards::all("treebeard");
    let titles: Vec<_> = all.iter().map(|d| d.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "TreeBeard - Service Health",
            "TreeBeard - Infrastructure",
            "TreeBeard - Application Performance",
            "TreeBeard - Business Metrics"
        ]
    );
    for d in &all {
        for widget in &d.widgets {
            for q in widget.queries() {
                let inner = q.trim_start_matches("top(").split(", 10,").next().unwrap();
                let refs = query::metric_refs(inner).unwrap_or_else(|e| panic!("{q}: {e}"));
                for r in refs {
                    assert!(
                        metrics::is_known(&r.name, "treebeard", &[]),
                        "{}: unknown metric {}",
                        d.title,
                        r.name
                    );
                }
            }
        }
    }
}

#[test]
fn a_renamed_namespace_changes_every_query() {
    for d in dashboards::all("acme") {
        for widget in &d.widgets {
            for q in widget.queries() {
                assert!(!q.contains("treebeard."), "{q}");
            }
        }
    }
}
