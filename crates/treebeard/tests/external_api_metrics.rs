//! `send_traced` records `external_api.request.duration` and
//! `external_api.errors`, tagged as the dashboards and monitors read them.
#![cfg(feature = "http-client")]
#![allow(clippy::panic)]

use axum::{Router, http::StatusCode, routing::get};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tracing::Instrument;
use treebeard::apm::{client::TracedRequest, external_api};

/// `(name, sorted tags, value)`: counters as `c<n>`, histograms as `h<samples>`.
type Seen = Vec<(String, Vec<String>, String)>;

fn calls() -> Seen {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let _subscriber = tracing::subscriber::set_default(tracing_subscriber::registry());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        runtime.block_on(async {
            let app = Router::new()
                .route("/v1/messages", get(|| async { "ok" }))
                .route(
                    "/broken",
                    get(|| async { (StatusCode::BAD_GATEWAY, "down") }),
                );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap_or_else(|e| panic!("bind: {e}"));
            let addr = listener
                .local_addr()
                .unwrap_or_else(|e| panic!("addr: {e}"));
            tokio::spawn(async move { axum::serve(listener, app).await });
            let client = reqwest::Client::new();
            let base = format!("http://{addr}");

            let ok = client
                .get(format!("{base}/v1/messages?key=secret"))
                .send_traced()
                .instrument(external_api("claude", "/v1/messages"))
                .await
                .unwrap_or_else(|e| panic!("call: {e}"));
            assert_eq!(ok.status(), 200);
            let broken = client
                .get(format!("{base}/broken"))
                .send_traced()
                .instrument(external_api("scoring", "/broken"))
                .await
                .unwrap_or_else(|e| panic!("call: {e}"));
            assert_eq!(broken.status(), 502);
            // No enclosing `external_api` span: the host names the API; a 404 is
            // not an error.
            let _ = client
                .get(format!("{base}/v1/messages/42"))
                .send_traced()
                .await;
            // Nothing listens on port 9 of this host: no answer at all.
            let refused = client
                .get("http://127.0.0.1:9/x")
                .send_traced()
                .instrument(external_api("claude", "/v1/messages"))
                .await;
            assert!(refused.is_err());
        });
    });
    let mut seen: Seen = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let mut tags: Vec<String> = key
                .key()
                .labels()
                .map(|l| format!("{}:{}", l.key(), l.value()))
                .collect();
            tags.sort();
            let value = match value {
                DebugValue::Counter(n) => format!("c{n}"),
                DebugValue::Gauge(g) => format!("g{}", g.into_inner()),
                DebugValue::Histogram(v) => format!("h{}", v.len()),
            };
            (key.key().name().to_owned(), tags, value)
        })
        .collect();
    seen.sort();
    seen
}

fn entry(name: &str, tags: &[&str], value: &str) -> (String, Vec<String>, String) {
    (
        name.to_owned(),
        tags.iter().map(|t| (*t).to_owned()).collect(),
        value.to_owned(),
    )
}

#[test]
fn calls_are_measured_and_failures_counted() {
    let seen = calls();
    let duration = "treebeard.external_api.request.duration";
    let errors = "treebeard.external_api.errors";
    let expected = vec![
        entry(
            errors,
            &[
                "api:claude",
                "endpoint:/v1/messages",
                "status:connect_error",
            ],
            "c1",
        ),
        entry(
            errors,
            &["api:scoring", "endpoint:/broken", "status:502"],
            "c1",
        ),
        entry(
            duration,
            &["api:127.0.0.1", "endpoint:unmatched", "status:404"],
            "h1",
        ),
        entry(
            duration,
            &["api:claude", "endpoint:/v1/messages", "status:200"],
            "h1",
        ),
        entry(
            duration,
            &[
                "api:claude",
                "endpoint:/v1/messages",
                "status:connect_error",
            ],
            "h1",
        ),
        entry(
            duration,
            &["api:scoring", "endpoint:/broken", "status:502"],
            "h1",
        ),
    ];
    let mut expected = expected;
    expected.sort();
    assert_eq!(seen, expected);
}
