//! Metrics: request metrics from a layer, a custom-metrics API, process and
//! runtime metrics, exported to DogStatsD or Prometheus.
//!
//! Everything goes through the [`metrics`](https://docs.rs/metrics) facade.
//! [`crate::init`] installs the exporter chosen by `METRICS_BACKEND`:
//!
//! | `METRICS_BACKEND` | exporter | cargo feature |
//! |---|---|---|
//! | `datadog` (default), `statsd` | DogStatsD over UDP or a Unix socket, client-side aggregation | `dogstatsd` |
//! | `prometheus` | text exposition served by [`prometheus_router`] | `prometheus` |
//! | `none` | nothing installed; the request layer is a pass-through | |
//!
//! Constant tags (`env`, `service`, `version` and `DD_TAGS`) are set once on
//! the exporter, not on every call. Names are `<namespace>.<component>.<metric>`
//! with the namespace from `METRICS_NAMESPACE` (default `treebeard`).
//!
//! - [`RequestMetricsLayer`]: `api.requests`, `api.request.duration`, `api.errors`.
//! - [`collector`] / [`Metrics`]: `increment`, `count`, `gauge`, `histogram`,
//!   `timed`, `time`, `time_async`, with tags.
//! - Process (CPU, memory, open file descriptors, threads) and Tokio runtime
//!   (workers, global queue depth, busy ratio) gauges, sampled every
//!   [`MetricsConfig::sample_interval`](crate::config::MetricsConfig::sample_interval).
//!
//! `docs/metrics.md` lists every metric with its type, unit and tags.

mod api;
pub(crate) mod names;

/// Metric names and tag keys (the `treebeard-conventions` crate).
pub use treebeard_conventions as conventions;

pub use crate::backends::metrics::MetricsError;
#[cfg(feature = "prometheus")]
pub use crate::backends::metrics::prometheus::{
    PROMETHEUS_PATH, prometheus_router, render_prometheus,
};
pub use crate::layers::metrics::{RequestMetrics, RequestMetricsLayer, ResponseFuture};
/// The handle types [`Metrics::counter`], [`Metrics::gauge_handle`] and
/// [`Metrics::histogram_handle`] return (the `metrics` crate's).
pub use ::metrics::{Counter, Gauge, Histogram};
pub(crate) use api::set_global;
pub use api::{Metrics, Timed, collector};
pub use names::{
    MAX_NAME_LEN, MAX_TAG_LEN, sanitize_name, sanitize_tag_key, sanitize_tag_value, valid_namespace,
};

pub use crate::config::{
    DEFAULT_FLUSH_INTERVAL, DEFAULT_HISTOGRAM_RESERVOIR_SIZE, DEFAULT_SAMPLE_INTERVAL,
};
