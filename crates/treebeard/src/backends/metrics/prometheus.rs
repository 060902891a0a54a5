//! The Prometheus exporter (`METRICS_BACKEND=prometheus`).
//!
//! The text exposition is served by a route you mount,
//! [`prometheus_router`], rather than by a listener of its own: no second
//! HTTP server in the process, and you choose where it is reachable (merge
//! it into your app, or serve it on an internal port with `axum::serve`).

use std::sync::OnceLock;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::exporter::{Exporter, MetricsError, constant_labels};
use crate::config::Config;

/// The path [`prometheus_router`] serves.
pub const PROMETHEUS_PATH: &str = "/metrics";

/// Histogram buckets (seconds) for every metric whose name ends in
/// `duration`; other histograms are rendered as summaries.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Builds the recorder for `config` and installs it globally.
pub(super) fn install(config: &Config) -> Result<Exporter, MetricsError> {
    let mut builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("duration".into()), DURATION_BUCKETS)
        .map_err(MetricsError::Prometheus)?;
    for label in constant_labels(config) {
        builder = builder.add_global_label(label.key(), label.value());
    }
    let handle = builder
        .install_recorder()
        .map_err(|_| MetricsError::RecorderAlreadySet)?;
    let upkeep = handle.clone();
    let _ = HANDLE.set(handle);
    tracing::info!(
        path = PROMETHEUS_PATH,
        "Prometheus metrics exporter started"
    );
    Ok(Exporter {
        final_flush: std::time::Duration::ZERO,
        upkeep: Some(Box::new(move || upkeep.run_upkeep())),
    })
}

/// The current metrics in the Prometheus text format, or `None` when the
/// Prometheus backend is not running.
pub fn render_prometheus() -> Option<String> {
    HANDLE.get().map(PrometheusHandle::render)
}

/// A router serving `GET /metrics` in the Prometheus text format (404 when
/// `METRICS_BACKEND` is not `prometheus`). Merge it into your app:
///
/// ```
/// use axum::{routing::get, Router};
///
/// let app: Router = Router::new()
///     .route("/health", get(|| async { "ok" }))
///     .merge(treebeard::metrics::prometheus_router());
/// ```
pub fn prometheus_router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route(PROMETHEUS_PATH, get(scrape))
}

async fn scrape() -> Response {
    match render_prometheus() {
        Some(body) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            )],
            body,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "the Prometheus metrics backend is not enabled (METRICS_BACKEND=prometheus)\n",
        )
            .into_response(),
    }
}
