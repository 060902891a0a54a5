//! Schema errors with line numbers, routing, monitor generation and the
//! shipped alert rules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use treebeard_alerting::routing::Route;
use treebeard_alerting::rules::Severity;
use treebeard_alerting::{metrics, monitors, query, validate};

const GOOD: &str = r#"version: 1
notifications:
  pagerduty: { service: prod }
  slack: { channel: alerts, warning_channel: monitoring }
  email: { digest: [ops@example.com] }
alerts:
  - name: Slow API
    query: "p95:treebeard.api.request.duration{*}"
    thresholds: { critical: 2, warning: 1.5 }
    severity: high
    description: Slow.
    runbook: https://runbooks.example/slow
  - name: Low hit rate
    query: "avg:treebeard.cache.hit_rate{*}"
    comparator: "<"
    thresholds: { critical: 0.8 }
    severity: medium
    description: Cache misses.
    runbook: https://runbooks.example/cache
"#;

fn problems(source: &str) -> Vec<validate::Problem> {
    validate::parse(source).unwrap_err().problems().to_vec()
}

#[test]
fn good_config_parses() {
    let config = validate::parse(GOOD).unwrap();
    assert_eq!(config.alerts.len(), 2);
    assert_eq!(config.namespace, "treebeard");
}

#[test]
fn unknown_field_reports_its_line() {
    let source = GOOD.replace(
        "    severity: medium\n",
        "    severity: medium\n    treshold: 3\n",
    );
    let p = problems(&source);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].line, Some(18), "{}", p[0]);
    assert!(p[0].message.contains("treshold"), "{}", p[0]);
}

#[test]
fn wrong_type_reports_its_line() {
    let source = GOOD.replace("critical: 2, warning", "critical: two, warning");
    let p = problems(&source);
    assert_eq!(p[0].line, Some(9), "{}", p[0]);
}

#[test]
fn bad_severity_reports_its_line() {
    let source = GOOD.replace("severity: high", "severity: urgent");
    let p = problems(&source);
    assert_eq!(p[0].line, Some(10), "{}", p[0]);
    assert!(p[0].message.contains("urgent"));
}

#[test]
fn unknown_metric_points_at_the_query_line() {
    let source = GOOD.replace("treebeard.cache.hit_rate", "treebeard.cache.hitrate");
    let p = problems(&source);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].line, Some(14), "{}", p[0]);
    assert_eq!(p[0].alert.as_deref(), Some("Low hit rate"));
    assert!(p[0].message.contains("treebeard.cache.hitrate"));
    assert!(
        p[0].to_string()
            .starts_with("line 14: alert `Low hit rate`: unknown metric")
    );
}

#[test]
fn thresholds_in_the_wrong_order_point_at_the_thresholds() {
    let source = GOOD.replace("critical: 2, warning: 1.5", "critical: 2, warning: 3");
    let p = problems(&source);
    assert_eq!(p[0].line, Some(9), "{}", p[0]);
    assert!(p[0].message.contains("warning threshold 3"));
}

#[test]
fn several_problems_are_all_reported() {
    let source = GOOD
        .replace(
            "runbook: https://runbooks.example/cache",
            "runbook: see wiki",
        )
        .replace(
            "p95:treebeard.api.request.duration{*}",
            "p95:treebeard.api.request.duration",
        );
    let p = problems(&source);
    let lines: Vec<_> = p.iter().map(|p| p.line).collect();
    assert_eq!(lines, vec![Some(8), Some(19)], "{p:?}");
}

#[test]
fn query_with_comparison_is_rejected() {
    let source = GOOD.replace("hit_rate{*}", "hit_rate{*} < 0.8");
    assert!(problems(&source)[0].message.contains("comparison"));
}

#[test]
fn evaluation_window_must_be_whole_minutes() {
    let source = GOOD.replace(
        "    severity: high\n",
        "    severity: high\n    evaluation_window: 90\n",
    );
    let p = problems(&source);
    assert_eq!(p[0].line, Some(11), "{}", p[0]);
}

#[test]
fn critical_without_pagerduty_is_an_error() {
    let source = GOOD
        .replace("  pagerduty: { service: prod }\n", "")
        .replace("severity: high", "severity: critical");
    let p = problems(&source);
    assert!(p[0].message.contains("notifications.pagerduty"), "{}", p[0]);
    assert_eq!(p[0].line, Some(9), "{}", p[0]);
}

#[test]
fn duplicate_names_are_rejected() {
    let source = GOOD.replace("Low hit rate", "Slow API");
    assert!(problems(&source)[0].message.contains("duplicate"));
}

#[test]
fn routing_follows_severity() {
    let mut n = validate::parse(GOOD).unwrap().notifications;
    assert_eq!(
        n.routes(Severity::Critical),
        vec![Route::PagerDuty("prod".into())]
    );
    assert_eq!(
        n.routes(Severity::High),
        vec![Route::Slack("alerts".into())]
    );
    assert_eq!(
        n.routes(Severity::Medium),
        vec![
            Route::Slack("monitoring".into()),
            Route::Email("ops@example.com".into())
        ]
    );
    assert_eq!(
        n.handles(Severity::Medium),
        "@slack-monitoring @ops@example.com"
    );
    n.page_on_high = true;
    assert_eq!(n.handles(Severity::High), "@slack-alerts @pagerduty-prod");
}

#[test]
fn monitors_carry_handles_options_and_ownership_tag() {
    let config = validate::parse(GOOD).unwrap();
    let m = monitors::generate(&config).unwrap();
    assert_eq!(
        m[0].query,
        "avg(last_5m):p95:treebeard.api.request.duration{*} > 2"
    );
    assert_eq!(
        m[1].query,
        "avg(last_5m):avg:treebeard.cache.hit_rate{*} < 0.8"
    );
    assert!(m[0].message.ends_with("@slack-alerts"));
    assert!(
        m[0].message
            .contains("Runbook: https://runbooks.example/slow")
    );
    assert!(m[1].message.ends_with("@slack-monitoring @ops@example.com"));
    assert_eq!(m[0].options.renotify_interval, Some(60));
    assert_eq!(m[0].options.thresholds.warning, Some(1.5));
    assert_eq!(m[0].priority, 2);
    assert!(m[0].tags.contains(&monitors::MANAGED_BY_TAG.to_owned()));
    assert!(m[0].tags.contains(&"severity:high".to_owned()));
}

fn shipped() -> treebeard_alerting::rules::AlertingConfig {
    validate::load(common::workspace_root().join("infrastructure/alerting-config.yml")).unwrap()
}

#[test]
fn shipped_config_covers_the_key_metric_targets() {
    let config = shipped();
    let m = monitors::generate(&config).unwrap();
    let find = |metric: &str, aggregator: &str| {
        m.iter()
            .find(|m| m.query.contains(&format!("{aggregator}:{metric}{{")))
            .unwrap_or_else(|| panic!("no monitor on {aggregator}:{metric}"))
    };
    let ns = |s| metrics::full_name("treebeard", s);
    use treebeard_conventions::*;
    let expect = |metric: &str, aggregator: &str, tail: &str| {
        let monitor = find(metric, aggregator);
        assert!(
            monitor.query.ends_with(tail),
            "{} should end with {tail}",
            monitor.query
        );
    };
    expect(&ns(api::REQUEST_DURATION), "p95", "> 2");
    expect(&ns(recommendations::DURATION), "p95", "> 3");
    expect(&ns(database::QUERY_DURATION), "avg", "> 0.1");
    expect(&ns(cache::HIT_RATE), "avg", "< 0.8");
    expect(&ns(process::CPU_PERCENT), "avg", "> 70");
    expect(&ns(process::MEMORY_PERCENT), "avg", "> 80");
    expect(host::DISK_IN_USE, "max", "> 0.8");
    expect(&ns(external::REQUEST_DURATION), "p95", "> 5");
    assert!(
        m.iter()
            .any(|m| m.query.contains(&ns(api::ERRORS)) && m.query.ends_with("> 1"))
    );
    assert!(
        m.iter()
            .any(|m| m.query.starts_with("sum(last_1d):") && m.query.ends_with("< 99.9"))
    );
    let claude = find(&ns(external::REQUEST_DURATION), "p95");
    assert!(claude.query.contains("api:claude"));
}

#[test]
fn shipped_queries_only_use_convention_or_agent_metrics() {
    let config = shipped();
    let known: Vec<String> = metrics::CONVENTION_METRICS
        .iter()
        .map(|s| treebeard_conventions::metric_name(treebeard_conventions::DEFAULT_NAMESPACE, s))
        .collect();
    assert!(config.extra_metrics.is_empty());
    for alert in &config.alerts {
        for r in query::metric_refs(&alert.query).unwrap() {
            assert!(
                known.contains(&r.name) || metrics::AGENT_METRICS.contains(&r.name.as_str()),
                "alert `{}` uses `{}`, neither a treebeard.* conventions metric nor a documented agent metric",
                alert.name,
                r.name
            );
        }
    }
}

#[test]
fn shipped_config_routes_every_severity() {
    let config = shipped();
    for severity in [Severity::Critical, Severity::High, Severity::Medium] {
        config.notifications.check(severity).unwrap();
    }
    assert!(
        config
            .alerts
            .iter()
            .any(|a| a.severity == Severity::Critical)
    );
}
