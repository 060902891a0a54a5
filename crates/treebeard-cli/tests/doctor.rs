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

/// An agent stand-in on a Unix socket: HTTP served by hyper (through axum)
/// on a `UnixListener`, answering `/info` as the trace agent does.
fn unix_agent(path: &std::path::Path) {
    let app = Router::new().route(
        "/info",
        get(|| async { Json(json!({"version": "7.98.0", "endpoints": ["/v0.4/traces"]})) }),
    );
    let listener = tokio::net::UnixListener::bind(path).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
}

fn row<'a>(out: &'a str, check: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(check))
        .unwrap_or_else(|| panic!("no {check} row in:\n{out}"))
}

/// The Compose setup of deploy/: both URLs are Unix sockets in a shared
/// directory. The agent check speaks HTTP over the stream socket; the
/// DogStatsD line arrives on the datagram socket.
#[tokio::test(flavor = "multi_thread")]
async fn unix_sockets_pass_when_the_agent_listens_on_them() {
    let dir = tempfile::tempdir().unwrap();
    let apm = dir.path().join("apm.socket");
    let dsd = dir.path().join("dsd.socket");
    unix_agent(&apm);
    let receiver = tokio::net::UnixDatagram::bind(&dsd).unwrap();
    let (ok, out) = doctor(&[
        ("DD_TRACE_AGENT_URL", &*format!("unix://{}", apm.display())),
        ("DD_DOGSTATSD_URL", &*format!("unix://{}", dsd.display())),
    ])
    .await;
    assert!(ok, "{out}");
    let agent = row(&out, "datadog agent (/info)");
    assert!(
        agent.contains("PASS") && agent.contains("version 7.98.0"),
        "{out}"
    );
    assert!(row(&out, "dogstatsd (unix)").contains("PASS"), "{out}");
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(std::time::Duration::from_secs(2), receiver.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"treebeard.doctor.check:1|c|#source:doctor");
}

/// No socket at the trace path, and a stale DogStatsD socket file whose
/// receiver is gone (an agent that stopped): both fail, saying what to
/// check.
#[tokio::test(flavor = "multi_thread")]
async fn unix_sockets_fail_when_nothing_listens() {
    let dir = tempfile::tempdir().unwrap();
    let apm = dir.path().join("apm.socket");
    let dsd = dir.path().join("dsd.socket");
    drop(std::os::unix::net::UnixDatagram::bind(&dsd).unwrap());
    assert!(dsd.exists(), "the stale socket file stays");
    let (ok, out) = doctor(&[
        ("DD_TRACE_AGENT_URL", &*format!("unix://{}", apm.display())),
        ("DD_DOGSTATSD_URL", &*format!("unix://{}", dsd.display())),
    ])
    .await;
    assert!(!ok, "{out}");
    let agent = row(&out, "datadog agent (/info)");
    assert!(
        agent.contains("FAIL") && agent.contains("DD_APM_RECEIVER_SOCKET="),
        "{out}"
    );
    let statsd = row(&out, "dogstatsd (unix)");
    assert!(
        statsd.contains("FAIL") && statsd.contains("DD_DOGSTATSD_SOCKET="),
        "{out}"
    );
}

/// `DD_DOGSTATSD_URL=udp://host:port` wins over `DD_DOGSTATSD_PORT`; an
/// unsupported scheme fails naming the variable.
#[tokio::test(flavor = "multi_thread")]
async fn dogstatsd_url_udp_and_a_bad_scheme() {
    let http = http_server().await;
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let url = format!("udp://{}", udp.local_addr().unwrap());
    let (ok, out) = doctor(&[
        ("DD_TRACE_AGENT_URL", &*format!("http://{http}")),
        ("DD_DOGSTATSD_PORT", "1"),
        ("DD_DOGSTATSD_URL", &*url),
    ])
    .await;
    assert!(ok, "{out}");
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(std::time::Duration::from_secs(2), udp.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"treebeard.doctor.check:1|c|#source:doctor");

    let (ok, out) = doctor(&[
        ("DD_TRACE_AGENT_URL", &*format!("http://{http}")),
        ("DD_DOGSTATSD_URL", "tcp://agent:8125"),
    ])
    .await;
    assert!(!ok, "{out}");
    assert!(
        row(&out, "dogstatsd").contains("DD_DOGSTATSD_URL=\"tcp://agent:8125\""),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unset_unified_service_tags_are_a_warning_not_a_failure() {
    let (_, out) = doctor(&[("DD_SERVICE", "checkout")]).await;
    let line = row(&out, "service tags");
    assert!(line.contains("WARN"), "{out}");
    assert!(line.contains("DD_ENV, DD_VERSION unset"), "{line}");
    assert!(out.contains("1 warned"), "{out}");
    let (_, out) = doctor(&[
        ("DD_SERVICE", "checkout"),
        ("DD_ENV", "prod"),
        ("DD_VERSION", "1.2.3"),
    ])
    .await;
    assert!(row(&out, "service tags").contains("PASS"), "{out}");
}
