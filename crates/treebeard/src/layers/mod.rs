//! The request layers, one module each, in the tower-http manner: a
//! `Layer`, its `Service` and a named response future.
//!
//! A layer speaks `tracing`, `metrics` and `http` and reads only the
//! crate's leaves (configuration, IDs, the route template): it imports no
//! exporter and no other layer, so each one is usable alone.
//! [`MonitoringLayer`](crate::MonitoringLayer) composes them.

pub mod catch_panic;
#[cfg(feature = "sentry")]
pub mod error_capture;
pub mod metrics;
pub mod request_id;
pub mod request_log;
