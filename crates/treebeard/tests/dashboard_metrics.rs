//! Every metric the monitors (`infrastructure/alerting-config.yml`) and the
//! dashboards (`infrastructure/dashboards/*.json`) query is one something
//! reports: a `treebeard.*` name from `treebeard-conventions`, or a metric
//! the DataDog agent reports itself (listed below with the reason).

#![allow(clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use treebeard::metrics::conventions::{self, DEFAULT_NAMESPACE, metric_name};

/// `<component>.<metric>` names treebeard's layers, samplers and helpers
/// record (through the conventions' constants), under the default namespace.
const EMITTED: &[&str] = conventions::ALL_METRICS;

/// Metrics that do not come from treebeard: the DataDog agent reports the
/// host's `system.*` metrics on its own, and computes `trace.*` metrics from
/// the spans it receives.
const FROM_THE_AGENT: &[&str] = &["system.", "trace."];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The metric names in a DataDog query: the word after `<aggregation>:`
/// and before the `{scope}`.
fn metric_names(query: &str) -> Vec<String> {
    let bytes = query.as_bytes();
    let mut names = Vec::new();
    for (brace, _) in query.match_indices('{') {
        let start = bytes[..brace]
            .iter()
            .rposition(|&b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b'.'))
            .map_or(0, |p| p + 1);
        if start > 0 && bytes[start - 1] == b':' && start < brace {
            names.push(query[start..brace].to_owned());
        }
    }
    names
}

/// Every string under the keys `q` and `query` of a JSON document.
fn json_queries(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match value {
                    serde_json::Value::String(q) if key == "q" || key == "query" => {
                        out.push(q.clone());
                    }
                    other => json_queries(other, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| json_queries(v, out)),
        _ => {}
    }
}

/// `query:` values of the alerting config (one line each, quoted or not).
fn yaml_queries(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            line.trim_start()
                .trim_start_matches("- ")
                .strip_prefix("query:")
        })
        .map(|q| q.trim().trim_matches('"').trim_matches('\'').to_owned())
        .collect()
}

fn all_queries() -> Vec<(String, String)> {
    let mut queries = Vec::new();
    let alerting = root().join("infrastructure/alerting-config.yml");
    let text = std::fs::read_to_string(&alerting)
        .unwrap_or_else(|e| panic!("{}: {e}", alerting.display()));
    for q in yaml_queries(&text) {
        queries.push(("alerting-config.yml".to_owned(), q));
    }
    let dir = root().join("infrastructure/dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no dashboards in {}", dir.display());
    for file in files {
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let json: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let mut found = Vec::new();
        json_queries(&json, &mut found);
        assert!(!found.is_empty(), "no queries in {}", file.display());
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        for q in found {
            queries.push((name.clone().unwrap_or_default(), q));
        }
    }
    queries
}

#[test]
fn every_queried_metric_is_reported() {
    let emitted: BTreeSet<String> = EMITTED
        .iter()
        .map(|m| metric_name(DEFAULT_NAMESPACE, m))
        .collect();
    let queries = all_queries();
    let mut checked = 0;
    let mut unknown = Vec::new();
    for (file, query) in &queries {
        let names = metric_names(query);
        assert!(!names.is_empty(), "{file}: no metric found in {query:?}");
        for name in names {
            checked += 1;
            let known = emitted.contains(&name)
                || FROM_THE_AGENT.iter().any(|prefix| name.starts_with(prefix));
            if !known {
                unknown.push(format!("{file}: {name} (in {query:?})"));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "queried but never reported:\n{}",
        unknown.join("\n")
    );
    // The monitors and the four dashboards: dozens of names, not a parse
    // that found nothing.
    assert!(checked > 40, "only {checked} metric names found");
}

#[test]
fn metric_names_are_read_from_queries() {
    assert_eq!(
        metric_names("top(p95:treebeard.a.b{$env,$service} by {api,endpoint}, 10, 'mean', 'desc')"),
        ["treebeard.a.b"]
    );
    assert_eq!(
        metric_names("100 * sum:x.errors{env:p}.as_count() / sum:x.requests{env:p}.as_count()"),
        ["x.errors", "x.requests"]
    );
    assert_eq!(
        yaml_queries("  - name: n\n    query: \"max:system.disk.in_use{env:production}\"\n"),
        ["max:system.disk.in_use{env:production}"]
    );
}

#[test]
fn an_unreported_metric_is_caught() {
    let emitted: BTreeSet<String> = EMITTED
        .iter()
        .map(|m| metric_name(DEFAULT_NAMESPACE, m))
        .collect();
    for name in metric_names("avg:treebeard.nothing.emits_this{$env}") {
        assert!(!emitted.contains(&name));
        assert!(!FROM_THE_AGENT.iter().any(|p| name.starts_with(p)));
    }
}
