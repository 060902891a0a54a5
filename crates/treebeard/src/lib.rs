//! TreeBeard: observability for Axum services, as composable Tower layers.
//!
//! One init call and one `.layer(...)` give a service request IDs, timed
//! JSON request logs with DataDog log correlation, and panic capture, all
//! configured by environment variables ([`Config::from_env`]). Each layer
//! is also usable alone:
//!
//! | layer | module |
//! |---|---|
//! | [`RequestIdLayer`](request_id::RequestIdLayer) | [`request_id`] |
//! | [`RequestLogLayer`](request_log::RequestLogLayer) | [`request_log`] |
//! | [`RequestMetricsLayer`](metrics::RequestMetricsLayer) | [`metrics`] |
//! | [`CatchPanicLayer`](catch_panic::CatchPanicLayer) | [`catch_panic`] |
//! | [`JsonLogLayer`](log::JsonLogLayer) (a `tracing` layer) | [`log`] |
//! | [`MonitoringLayer`] (all of the above) | [`stack`] |
//!
//! ```no_run
//! use axum::{routing::get, Router};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let config = treebeard::Config::from_env()?; // names every bad variable
//!     let monitoring = treebeard::init(&config)?;  // keep the guard alive
//!     let app = Router::new()
//!         .route("/health", get(|| async { "ok" }))
//!         .layer(monitoring.layer());
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//!     axum::serve(listener, app).await?;
//!     Ok(())
//! }
//! ```
#![forbid(unsafe_code)]
// On docs.rs (nightly), feature-gated items say which feature they need.
#![cfg_attr(docsrs, feature(doc_cfg))]

// Leaves: depend on nothing else in the crate (docs/architecture.md).
mod body;
mod client_ip;
pub mod config;
mod error;
mod escape;
mod ids;
pub mod privacy;
mod query;
mod request_line;
mod response_error;
mod route;
mod trace_context;
// The request layers, and the stack that composes them.
pub mod layers;
pub mod stack;
// Exporters, each installed from `Config` by `init`.
mod backends;
// The local dev console (TREEBEARD_DEV_CONSOLE).
#[cfg(feature = "dev-console")]
mod console;
mod init;
mod shutdown;
// The user-facing APIs.
pub mod apm;
pub mod log;
pub mod metrics;
pub mod sentry;

pub use layers::{catch_panic, request_id, request_log};

pub use config::Config;

/// Compiles the README's examples as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

/// Compiles docs/background.md's examples as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/background.md")]
struct BackgroundDoctests;
pub use self::sentry::{capture_exception, capture_message};
pub use init::{DEFAULT_SHUTDOWN_TIMEOUT, InitError, MonitoringGuard, init};
pub use request_id::RequestId;
pub use response_error::ResponseError;
pub use shutdown::shutdown_signal;
pub use stack::MonitoringLayer;
