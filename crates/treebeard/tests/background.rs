//! Work outside the request's own task: a task a handler spawns keeps the
//! request's ID and span (its lines carry `request_id` and the route), and
//! a background job's lines carry `job`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use serde_json::Value;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use treebeard::config::Config;
use treebeard::log::JsonLogLayer;
use treebeard::{MonitoringLayer, RequestId};

#[path = "common/lines.rs"]
mod lines;
use lines::Lines;

/// The line with `message`, waiting for it.
async fn line_of(lines: &Lines, message: &str) -> Value {
    lines.wait_for(message, |l| l["message"] == message).await
}

/// The handler answers at once and leaves the work to a spawned task.
async fn order() -> &'static str {
    let id = RequestId::current().expect("inside a request");
    tokio::spawn(
        id.scope(async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let seen = RequestId::current().map(|id| id.to_string());
            tracing::info!(seen = seen.as_deref(), "order confirmed by e-mail");
        })
        .in_current_span(),
    );
    "accepted"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_tasks_and_jobs_keep_their_context() {
    let lines = Lines::default();
    let subscriber =
        tracing_subscriber::registry().with(JsonLogLayer::new().with_writer(lines.clone()));
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let config = Config::builder()
        .with_source([("APM_PROVIDER", "none"), ("METRICS_BACKEND", "none")])
        .build()
        .unwrap();
    let app = Router::new()
        .route("/orders", get(order))
        .layer(MonitoringLayer::new(&config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let response = reqwest::Client::new()
        .get(format!("http://{addr}/orders"))
        .header("x-request-id", "order-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "accepted");
    // Logged after the response, from another task: the request's context.
    let line = line_of(&lines, "order confirmed by e-mail").await;
    assert_eq!(line["request_id"], "order-42", "{line}");
    assert_eq!(line["http.route"], "/orders", "{line}");
    assert_eq!(line["seen"], "order-42", "RequestId::current() in the task");

    // A job outside any request: its lines say which job.
    async {
        tracing::warn!("cache refresh slow");
    }
    .instrument(treebeard::apm::background_job("cache.refresh"))
    .await;
    let line = line_of(&lines, "cache refresh slow").await;
    assert_eq!(line["job"], "cache.refresh", "{line}");
    assert!(line.get("request_id").is_none(), "{line}");
}
