//! `treebeard alerts digest` against a local stand-in of DataDog's Events
//! API v2 (its requests and answers checked against datadog-api-client's
//! models) and a real SMTP server (aiosmtpd): a day with alerts, an empty
//! day, DataDog unreachable, SMTP refusing, bad configuration.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../../treebeard-alerting/tests/common/mod.rs"]
mod common;
mod fake_datadog;

use std::path::{Path, PathBuf};

use fake_datadog::{GOOD_KEY, monitor_event};
use serde_json::Value;

/// The end of the period in every test: 2026-01-15T07:00:00Z.
const END: &str = "2026-01-15T07:00:00Z";
const END_MS: i64 = 1_768_460_400_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

const OWNED: &[&str] = &[
    "env:production",
    "managed-by:treebeard",
    "service:treebeard-api",
    "severity:critical",
];

fn config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infrastructure/alerting-config.yml")
}

fn alert(id: i64, name: &str, status: &str, before_end: i64, groups: &[&str]) -> (String, Value) {
    (
        "alert".into(),
        monitor_event(id, name, status, END_MS - before_end, OWNED, groups),
    )
}

/// A day with alerts: two critical episodes (the second still open), a
/// high warn→alert→recovered, a medium one already firing when the day
/// began (on a group holding an email address, to be scrubbed), and
/// events the digest must leave out (too old, another team's monitor).
fn busy_day() -> Vec<(String, Value)> {
    let errors = "Error rate above 1%";
    let latency = "API P95 latency above 2 s";
    let db = "Database query average above 100 ms";
    vec![
        alert(1001, errors, "error", 20 * HOUR, &[]),
        alert(1001, errors, "success", 20 * HOUR - 20 * MINUTE, &[]),
        alert(1001, errors, "error", 2 * HOUR, &[]),
        alert(1001, errors, "error", HOUR, &[]),
        alert(1002, latency, "warning", 10 * HOUR, &[]),
        alert(1002, latency, "error", 10 * HOUR - 5 * MINUTE, &[]),
        alert(1002, latency, "success", 9 * HOUR - 30 * MINUTE, &[]),
        alert(
            1003,
            db,
            "error",
            30 * HOUR,
            &["table:users", "owner:bob@example.com"],
        ),
        alert(
            1003,
            db,
            "success",
            23 * HOUR,
            &["table:users", "owner:bob@example.com"],
        ),
        // Before the lookback: never read.
        alert(1001, errors, "error", 60 * HOUR, &[]),
        (
            "alert".into(),
            monitor_event(
                5,
                "Someone else's",
                "error",
                END_MS - HOUR,
                &["team:other"],
                &[],
            ),
        ),
        (
            "my_apps".into(),
            monitor_event(1001, errors, "error", END_MS - HOUR, OWNED, &[]),
        ),
    ]
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn digest(envs: &[(&str, &str)], args: &[&str]) -> Run {
    let file = config();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_treebeard"));
    command.args(["alerts", "digest"]);
    if !args.contains(&"--file") {
        command.args(["--file", file.to_str().unwrap()]);
    }
    let out = command
        .args(args)
        .env_clear()
        // The shipped rules name their runbooks (`runbook: error-rate`):
        // the digest shows them as links under this base.
        .env(
            "TREEBEARD_RUNBOOK_BASE_URL",
            "https://runbooks.treebeard.example/{name}",
        )
        .envs(envs.iter().copied())
        .output()
        .await
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn dd_env(base: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DD_API_KEY", GOOD_KEY.to_owned()),
        ("DD_APP_KEY", "app-key".to_owned()),
        ("DD_API_URL", base.to_owned()),
    ]
}

fn borrow<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn smtp_env(port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("SMTP_HOST", "127.0.0.1".to_owned()),
        ("SMTP_PORT", port.to_string()),
        (
            "SMTP_FROM",
            "TreeBeard <alerts@treebeard.example>".to_owned(),
        ),
        ("SMTP_TO", "oncall-digest@treebeard.example".to_owned()),
        ("SMTP_TLS", "none".to_owned()),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_day_with_alerts_prints_each_monitor_by_severity() {
    let (base, store) = fake_datadog::start_with(busy_day()).await;
    let run = digest(
        &borrow(&dd_env(&base)),
        &["--period", "daily", "--end", END, "--dry-run"],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let out = &run.stdout;
    for expected in [
        "TreeBeard daily alert digest",
        "Period: 2026-01-14T07:00:00Z to 2026-01-15T07:00:00Z",
        "4 alerts on 3 monitors: 2 critical, 1 high, 1 medium. 1 still open.",
        "== CRITICAL ==",
        "Error rate above 1% — fired 2 times, 2h 20m in total, still open",
        &format!("  Monitor: {base}/monitors/1001"),
        "  Runbook: https://runbooks.treebeard.example/error-rate",
        "  - 2026-01-14T11:00:00Z → 2026-01-14T11:20:00Z (20m, alert)",
        "  - 2026-01-15T05:00:00Z → still open (2h, alert)",
        "== HIGH ==",
        "API P95 latency above 2 s — fired once, 1h 30m in total",
        "  - 2026-01-14T21:00:00Z → 2026-01-14T22:30:00Z (1h 30m, alert)",
        "== MEDIUM ==",
        "Database query average above 100 ms — fired once, 7h in total",
        "already firing when the period began",
        "on owner:[EMAIL],table:users",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(out.find("== CRITICAL ==") < out.find("== HIGH =="), "{out}");
    assert!(out.find("== HIGH ==") < out.find("== MEDIUM =="), "{out}");
    for absent in ["Someone else", "bob@example.com", "2026-01-12"] {
        assert!(!out.contains(absent), "{absent:?} in:\n{out}");
    }

    // One window, from a day before the period (the lookback) to its end,
    // read page by page through the cursor.
    let s = store.lock().unwrap();
    assert!(s.event_searches.len() > 1, "{:?}", s.event_searches);
    let first = &s.event_searches[0];
    assert_eq!(
        first["filter"]["query"],
        "source:alert managed-by:treebeard"
    );
    assert_eq!(first["filter"]["from"], "2026-01-13T07:00:00Z");
    assert_eq!(first["filter"]["to"], END);
    assert!(first["page"].get("cursor").is_none());
    assert_eq!(s.event_searches[1]["page"]["cursor"], "opaque-cursor-2");
    assert!(
        s.event_answers.last().unwrap()["meta"]
            .get("page")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn json_output_holds_the_same_digest() {
    let (base, _store) = fake_datadog::start_with(busy_day()).await;
    let run = digest(
        &borrow(&dd_env(&base)),
        &[
            "--period",
            "daily",
            "--end",
            "2026-01-15T08:00:00+01:00",
            "--json",
        ],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["period"], "daily");
    assert_eq!(v["end"], END);
    assert_eq!(v["alerts"], 4);
    assert_eq!(v["still_open"], 1);
    assert_eq!(v["by_severity"]["critical"], 2);
    let errors = &v["monitors"][0];
    assert_eq!(errors["name"], "Error rate above 1%");
    assert_eq!(errors["severity"], "critical");
    assert_eq!(errors["monitor_id"], 1001);
    assert_eq!(errors["fired"], 2);
    assert_eq!(errors["total_seconds"], 2 * 3600 + 20 * 60);
    assert_eq!(errors["first"], "2026-01-14T11:00:00Z");
    assert_eq!(errors["last"], "2026-01-15T05:00:00Z");
    assert_eq!(errors["open"], true);
    assert_eq!(errors["episodes"][1]["end"], Value::Null);
    assert_eq!(
        errors["runbook"],
        "https://runbooks.treebeard.example/error-rate"
    );
    assert_eq!(
        v["monitors"][2]["episodes"][0]["started_before_period"],
        true
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_digest_is_emailed_with_an_html_alternative() {
    let (base, _store) = fake_datadog::start_with(busy_day()).await;
    let tmp = tempfile::tempdir().unwrap();
    let maildir = tmp.path().join("maildir");
    let (_smtp, port) = common::start_aiosmtpd(&maildir);
    let env: Vec<_> = dd_env(&base).into_iter().chain(smtp_env(port)).collect();
    let run = digest(
        &borrow(&env),
        &["--period", "weekly", "--end", END, "--send"],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("email: [TreeBeard] Weekly alert digest: 4 alerts, 1 still open"),
        "{}",
        run.stdout
    );

    let read = common::run_python("read_maildir.py", &[maildir.to_str().unwrap()]);
    let messages: Vec<Value> = serde_json::from_str(&read).unwrap();
    assert_eq!(messages.len(), 1, "{read}");
    let m = &messages[0];
    assert_eq!(
        m["subject"],
        "[TreeBeard] Weekly alert digest: 4 alerts, 1 still open"
    );
    assert_eq!(m["content_type"], "multipart/alternative");
    assert!(
        m["to"]
            .as_str()
            .unwrap()
            .contains("oncall-digest@treebeard.example")
    );
    let text = m["body"].as_str().unwrap();
    assert!(
        text.contains("Period: 2026-01-08T07:00:00Z to 2026-01-15T07:00:00Z"),
        "{text}"
    );
    // Over a week, the medium episode began inside the period.
    assert!(
        text.contains("Database query average above 100 ms — fired once, 7h in total"),
        "{text}"
    );
    let html = m["html"].as_str().unwrap();
    assert!(html.contains("<h2>CRITICAL</h2>"), "{html}");
    assert!(
        html.contains(&format!(
            "<a href=\"{base}/monitors/1001\">Error rate above 1%</a>"
        )),
        "{html}"
    );
    assert!(
        html.contains("<a href=\"https://runbooks.treebeard.example/error-rate\">runbook</a>"),
        "{html}"
    );
    assert!(!read.contains("bob@example.com"), "{read}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_day_is_a_quiet_period() {
    let (base, store) = fake_datadog::start().await;
    let run = digest(
        &borrow(&dd_env(&base)),
        &["--period", "daily", "--end", END],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("Quiet period: no TreeBeard monitor fired."),
        "{}",
        run.stdout
    );
    assert_eq!(store.lock().unwrap().event_searches.len(), 1);

    let tmp = tempfile::tempdir().unwrap();
    let maildir = tmp.path().join("maildir");
    let (_smtp, port) = common::start_aiosmtpd(&maildir);
    let env: Vec<_> = dd_env(&base).into_iter().chain(smtp_env(port)).collect();
    let run = digest(
        &borrow(&env),
        &["--period", "daily", "--end", END, "--send"],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let read = common::run_python("read_maildir.py", &[maildir.to_str().unwrap()]);
    assert!(
        read.contains("[TreeBeard] Daily alert digest: quiet period"),
        "{read}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn datadog_unreachable_exits_1_with_the_reason() {
    let closed = format!("http://127.0.0.1:{}", common::free_port());
    let run = digest(
        &borrow(&dd_env(&closed)),
        &["--period", "daily", "--end", END],
    )
    .await;
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "cannot reach DataDog at {closed}/api/v2/events/search"
        )),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_credentials_exit_1_naming_the_keys() {
    let (base, _store) = fake_datadog::start().await;
    let mut env = dd_env(&base);
    env[0].1 = "wrong".into();
    let run = digest(&borrow(&env), &["--period", "daily", "--end", END]).await;
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("DataDog refused the credentials (403")
            && run.stderr.contains("events read for the digest"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_refusing_exits_1_with_the_reason() {
    let (base, _store) = fake_datadog::start_with(busy_day()).await;
    let env: Vec<_> = dd_env(&base)
        .into_iter()
        .chain(smtp_env(common::free_port()))
        .collect();
    let run = digest(
        &borrow(&env),
        &["--period", "daily", "--end", END, "--send"],
    )
    .await;
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("error: sending the digest: email: sending via 127.0.0.1:"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_configuration_exits_2_before_any_request() {
    let (base, store) = fake_datadog::start_with(busy_day()).await;
    let dd = dd_env(&base);
    // (environment, arguments after --period, expected message)
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a str>, &'a str);
    let cases: Vec<Case> = vec![
        (
            borrow(&dd),
            vec!["--end", "yesterday"],
            "--end \"yesterday\" is not a time",
        ),
        (Vec::new(), vec![], "DD_API_KEY is not set"),
        (borrow(&dd), vec!["--send"], "email: SMTP_HOST is not set"),
        (
            borrow(&dd),
            vec!["--file", "/nonexistent/alerting-config.yml"],
            "/nonexistent/alerting-config.yml",
        ),
    ];
    for (env, extra, expected) in cases {
        let mut args = vec!["--period", "daily"];
        args.extend(extra);
        let run = digest(&env, &args).await;
        assert_eq!(run.code, Some(2), "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
    }
    let usage = digest(&borrow(&dd), &["--period", "monthly"]).await;
    assert_eq!(usage.code, Some(2), "{}", usage.stderr);
    assert!(store.lock().unwrap().event_searches.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stand_in_speaks_datadogs_documented_event_shapes() {
    let (base, store) = fake_datadog::start_with(busy_day()).await;
    let run = digest(
        &borrow(&dd_env(&base)),
        &["--period", "weekly", "--end", END],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let (searches, answers) = {
        let s = store.lock().unwrap();
        (s.event_searches.clone(), s.event_answers.clone())
    };
    assert!(answers.len() > 1);
    let dir = tempfile::tempdir().unwrap();
    for (kind, items) in [
        ("events_list_request", searches),
        ("events_list_response", answers),
    ] {
        let file = dir.path().join(format!("{kind}.json"));
        std::fs::write(&file, serde_json::to_string(&items).unwrap()).unwrap();
        let out = common::run_python("validate_datadog.py", &[kind, file.to_str().unwrap()]);
        assert!(
            out.contains(&format!("{} {kind}(s) OK", items.len())),
            "{out}"
        );
    }
}
