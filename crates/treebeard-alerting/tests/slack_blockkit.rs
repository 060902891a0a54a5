//! Slack messages pass slack_sdk's Block Kit validation and are delivered
//! to a webhook and to chat.postMessage.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use treebeard_alerting::notify::{AlertStatus, Notification, NotifyError, SlackNotifier};
use treebeard_alerting::rules::Severity;

fn notifications() -> Vec<Notification> {
    let long = "A very long alert name that goes on ".repeat(10);
    vec![
        Notification::new(
            "API P95 latency above 2 s",
            Severity::Critical,
            "P95 is *2.7 s*",
        )
        .with_group("endpoint:/users/{id}")
        .with_detail("value", "2.7")
        .with_runbook("https://runbooks.example/latency")
        .with_tags(["env:production", "service:treebeard-api"]),
        Notification::new(long.clone(), Severity::High, long.repeat(20)),
        Notification::new(
            "Cache hit rate below 80%",
            Severity::Medium,
            "hit rate 0.72",
        )
        .with_status(AlertStatus::Resolved),
        (0..20).fold(
            Notification::new("Many details", Severity::Medium, "x"),
            |n, i| n.with_detail(format!("k{i}"), "v".repeat(3000)),
        ),
    ]
}

#[test]
fn messages_pass_slack_sdk_validation() {
    let slack = SlackNotifier::webhook("http://unused");
    let messages: Vec<Value> = notifications().iter().map(|n| slack.message(n)).collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("messages.json");
    std::fs::write(&file, serde_json::to_string(&messages).unwrap()).unwrap();
    let out = common::run_python("validate_slack.py", &[file.to_str().unwrap()]);
    assert!(out.contains("4 message(s) OK"), "{out}");
}

#[test]
fn invalid_blocks_are_caught_by_the_validator() {
    // Guards the guard: a header over 150 characters must fail.
    let bad = json!([{ "text": "x", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "x".repeat(151)}}]}]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    std::fs::write(&file, bad.to_string()).unwrap();
    let out = std::process::Command::new(common::venv_python())
        .arg(common::peer_script("validate_slack.py"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

type Seen = Arc<Mutex<Vec<(Option<String>, Value)>>>;

async fn record(
    State(seen): State<Seen>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let ok = body["channel"] != "#missing";
    seen.lock().unwrap().push((auth, body));
    if ok {
        Json(json!({"ok": true}))
    } else {
        Json(json!({"ok": false, "error": "channel_not_found"}))
    }
}

async fn serve() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route("/hook", post(record))
        .route("/api/chat.postMessage", post(record))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

#[tokio::test]
async fn webhook_and_bot_deliver_the_message() {
    let (base, seen) = serve().await;
    let n = &notifications()[0];
    SlackNotifier::webhook(format!("{base}/hook"))
        .notify(n)
        .await
        .unwrap();
    let env = [
        ("SLACK_BOT_TOKEN", "xoxb-test-token"),
        ("SLACK_CHANNEL", "#alerts"),
        ("SLACK_API_URL", &*format!("{base}/api")),
    ];
    SlackNotifier::from_env(&env)
        .unwrap()
        .notify(n)
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].0, None);
    assert!(seen[0].1["blocks"].is_array());
    assert_eq!(seen[1].0.as_deref(), Some("Bearer xoxb-test-token"));
    assert_eq!(seen[1].1["channel"], "#alerts");
}

#[tokio::test]
async fn slack_api_error_is_reported() {
    let (base, _) = serve().await;
    let slack = SlackNotifier::bot("xoxb-t", "#missing").with_api_url(format!("{base}/api"));
    match slack.notify(&notifications()[0]).await {
        Err(NotifyError::Rejected { body, .. }) => assert!(body.contains("channel_not_found")),
        other => panic!("expected rejection, got {other:?}"),
    }
}

#[test]
fn env_errors_name_the_variable() {
    let err = SlackNotifier::from_env(&[("SLACK_BOT_TOKEN", "nope")]).unwrap_err();
    assert!(err.to_string().contains("SLACK_BOT_TOKEN"), "{err}");
    let err = SlackNotifier::from_env(&[("SLACK_BOT_TOKEN", "xoxb-1")]).unwrap_err();
    assert!(err.to_string().contains("SLACK_CHANNEL"), "{err}");
}
