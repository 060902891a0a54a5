//! The TreeBeard example API: users, recommendations, an embedded database,
//! an outgoing HTTP call and a cache, with TreeBeard monitoring layered on.
//!
//! [`app`] builds the router, so tests can drive it in memory; `main.rs`
//! reads the configuration, calls `treebeard::init` and serves it.

pub mod db;
pub mod error;
pub mod routes;
pub mod settings;
pub mod state;

use axum::Router;
use axum::routing::{get, post};
use treebeard::MonitoringLayer;

pub use state::AppState;

/// The router with every route, wrapped in `monitoring`; `GET /metrics`
/// serves Prometheus text when `METRICS_BACKEND=prometheus`.
pub fn app(state: AppState, monitoring: MonitoringLayer) -> Router {
    let routes = Router::new()
        .route("/health", get(routes::health::health))
        .route("/users/{id}", get(routes::users::get_user))
        .route(
            "/users/{id}/recommendations",
            get(routes::recommendations::recommendations),
        )
        .route("/internal/score", post(routes::score::score))
        .route("/demo/error", get(routes::demo::error))
        .route("/demo/panic", get(routes::demo::panic))
        .route("/demo/stream", get(routes::stream::stream))
        .route("/demo/broken-stream", get(routes::stream::broken))
        .route("/demo/echo-error/{user}", post(routes::demo::echo_error))
        .merge(treebeard::metrics::prometheus_router())
        .with_state(state);
    monitoring.apply(routes)
}
