//! `treebeard doctor` against a local agent stand-in, a UDP receiver and a
//! local "Sentry" host.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

async fn http_server() -> String {
    let app = Router::new()
        .route(
            "/info",
            get(|| async { Json(json!({"version": "7.99.0", "endpoints": ["/v0.4/traces"]})) }),
        )
        .fallback(|| async { (axum::http::StatusCode::METHOD_NOT_ALLOWED, "") });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr.to_string()
}

async fn doctor(envs: &[(&str, &str)]) -> (bool, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_treebeard"))
        .args(["doctor", "--timeout", "2", "--file", "/nonexistent.yml"])
        .env_clear()
        .envs(envs.iter().copied())
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn all_green_with_reachable_peers() {
    let http = http_server().await;
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let udp_port = udp.local_addr().unwrap().port().to_string();
    let dsn = format!("http://publickey@{http}/42");
    let (ok, out) = doctor(&[
        ("DD_TRACE_AGENT_URL", &*format!("http://{http}")),
        ("DD_AGENT_HOST", "127.0.0.1"),
        ("DD_DOGSTATSD_PORT", &*udp_port),
        ("SENTRY_DSN", &*dsn),
        ("PAGERDUTY_ROUTING_KEY", "e93facc04764012d7bfb002500d5d1a6"),
        (
            "SLACK_WEBHOOK_URL",
            "https://hooks.slack.com/services/T/B/X",
        ),
    ])
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("version 7.99.0"), "{out}");
    assert!(out.contains("project 42"), "{out}");
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(std::time::Duration::from_secs(2), udp.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"treebeard.doctor.check:1|c|#source:doctor");
    assert!(
        out.contains("email (smtp)") && out.contains("SKIP"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_make_a_non_zero_exit() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (ok, out) = doctor(&[
        ("DD_TRACE_AGENT_URL", &*format!("http://{closed}")),
        ("SENTRY_DSN", "not a dsn"),
        ("SMTP_HOST", "127.0.0.1"),
        ("SMTP_TLS", "ssl"),
    ])
    .await;
    assert!(!ok, "{out}");
    let fail_rows: Vec<&str> = out.lines().filter(|l| l.contains(" FAIL ")).collect();
    assert_eq!(fail_rows.len(), 3, "{out}");
    assert!(out.contains("SENTRY_DSN="), "{out}");
    assert!(out.contains("SMTP_"), "{out}");
}
