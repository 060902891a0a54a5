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
#[cfg(feature = "dogstatsd")]
mod dogstatsd;
mod layer;
mod names;
#[cfg(feature = "prometheus")]
mod prometheus;
mod resources;

use std::time::Duration;

/// Metric names and tag keys (the `treebeard-conventions` crate).
pub use treebeard_conventions as conventions;

/// The handle types [`Metrics::counter`], [`Metrics::gauge_handle`] and
/// [`Metrics::histogram_handle`] return (the `metrics` crate's).
pub use ::metrics::{Counter, Gauge, Histogram};
pub use api::{Metrics, Timed, collector};
pub use layer::{RequestMetrics, RequestMetricsLayer, ResponseFuture};
pub use names::{
    MAX_NAME_LEN, MAX_TAG_LEN, sanitize_name, sanitize_tag_key, sanitize_tag_value, valid_namespace,
};
#[cfg(feature = "prometheus")]
pub use prometheus::{PROMETHEUS_PATH, prometheus_router, render_prometheus};

use crate::config::{Config, MetricsBackend};
use crate::init::Backend;

/// Default DogStatsD flush interval (`METRICS_FLUSH_INTERVAL`).
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(3);

/// Default interval between two samples of process and runtime metrics.
pub const DEFAULT_SAMPLE_INTERVAL: Duration = Duration::from_secs(10);

/// Default number of values a histogram keeps between two flushes; beyond
/// it values are reservoir-sampled, so each histogram holds at most about
/// `16 × size` bytes (16 KiB by default) however many requests arrive.
pub const DEFAULT_HISTOGRAM_RESERVOIR_SIZE: usize = 1024;

/// Why the metrics exporter did not start. [`crate::init`] logs it and
/// carries on without metrics: monitoring never stops the service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The DogStatsD exporter could not be built (say, an unresolvable host).
    #[cfg(feature = "dogstatsd")]
    #[error("cannot start the DogStatsD exporter for {target}: {source}")]
    DogStatsd {
        /// The address.
        target: String,
        /// Why.
        #[source]
        source: metrics_exporter_dogstatsd::BuildError,
    },
    /// The Prometheus recorder could not be installed.
    #[cfg(feature = "prometheus")]
    #[error("cannot start the Prometheus exporter: {0}")]
    Prometheus(#[source] metrics_exporter_prometheus::BuildError),
    /// The backend was compiled out.
    #[error("METRICS_BACKEND={backend} needs the `{feature}` cargo feature of treebeard")]
    FeatureDisabled {
        /// The backend asked for.
        backend: &'static str,
        /// The feature that provides it.
        feature: &'static str,
    },
    /// Another `metrics` recorder was installed first.
    #[error(
        "another metrics recorder is already installed; call treebeard::init before installing one"
    )]
    RecorderAlreadySet,
    /// The sampler thread could not start.
    #[error("cannot start the resource sampler thread: {0}")]
    Sampler(#[source] std::io::Error),
}

/// Starts the exporter and the resource sampler for `config`, and makes
/// [`collector`] use its namespace. `Ok(None)` when metrics are off.
pub(crate) fn start(config: &Config) -> Result<Option<Box<dyn Backend>>, MetricsError> {
    api::set_global(Metrics::new(&config.metrics.namespace));
    if !config.enabled {
        return Ok(None);
    }
    let exporter = match config.metrics.backend {
        MetricsBackend::None => return Ok(None),
        MetricsBackend::DogStatsd => start_dogstatsd(config)?,
        MetricsBackend::Prometheus => start_prometheus(config)?,
    };
    let sampler = resources::Sampler::start(config, exporter.upkeep)?;
    Ok(Some(Box::new(MetricsHandle {
        sampler: Some(sampler),
        final_flush: exporter.final_flush,
    })))
}

/// What an exporter needs from the rest of the module.
struct Exporter {
    /// How long to wait on shutdown for the exporter's last flush.
    final_flush: Duration,
    /// Periodic maintenance (Prometheus histogram draining).
    upkeep: Option<Box<dyn Fn() + Send>>,
}

#[cfg(feature = "dogstatsd")]
fn start_dogstatsd(config: &Config) -> Result<Exporter, MetricsError> {
    dogstatsd::install(config)
}

#[cfg(not(feature = "dogstatsd"))]
fn start_dogstatsd(_config: &Config) -> Result<Exporter, MetricsError> {
    Err(MetricsError::FeatureDisabled {
        backend: "datadog",
        feature: "dogstatsd",
    })
}

#[cfg(feature = "prometheus")]
fn start_prometheus(config: &Config) -> Result<Exporter, MetricsError> {
    prometheus::install(config)
}

#[cfg(not(feature = "prometheus"))]
fn start_prometheus(_config: &Config) -> Result<Exporter, MetricsError> {
    Err(MetricsError::FeatureDisabled {
        backend: "prometheus",
        feature: "prometheus",
    })
}

/// Constant labels: `env`, `service`, `version`, then `DD_TAGS`.
// Only the exporters read them.
#[cfg_attr(
    not(any(feature = "dogstatsd", feature = "prometheus")),
    allow(dead_code)
)]
pub(crate) fn constant_labels(config: &Config) -> Vec<metrics::Label> {
    use treebeard_conventions::tags;
    let mut labels = names::labels(&[
        (tags::ENV, &config.env),
        (tags::SERVICE, &config.service),
        (tags::VERSION, &config.version),
    ]);
    labels.extend(names::constant_labels(&config.tags));
    labels
}

/// The running metrics backend, stopped by the [`MonitoringGuard`](crate::MonitoringGuard).
struct MetricsHandle {
    sampler: Option<resources::Sampler>,
    final_flush: Duration,
}

impl std::fmt::Debug for MetricsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsHandle")
            .field("final_flush", &self.final_flush)
            .finish_non_exhaustive()
    }
}

impl Backend for MetricsHandle {
    fn shutdown(&mut self, timeout: Duration) {
        let deadline = std::time::Instant::now() + timeout;
        if let Some(sampler) = self.sampler.take() {
            sampler.stop();
        }
        // The DogStatsD forwarder has no flush call: it sends what is
        // pending at its next tick, so wait for that tick, within budget.
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        std::thread::sleep(self.final_flush.min(left));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&'static str, &'static str)]) -> Result<Config, crate::config::ConfigError> {
        let source: std::collections::HashMap<&str, &str> = vars.iter().copied().collect();
        Config::builder().with_source(source).build()
    }

    #[test]
    fn metrics_variables_have_defaults_and_are_validated() {
        let c = config(&[]).unwrap();
        assert_eq!(c.metrics.namespace, "treebeard");
        assert_eq!(c.metrics.flush_interval, DEFAULT_FLUSH_INTERVAL);
        assert_eq!(c.metrics.sample_interval, DEFAULT_SAMPLE_INTERVAL);
        assert_eq!(c.metrics.histogram_reservoir_size, 1024);

        let c = config(&[
            ("METRICS_NAMESPACE", "acme.recs"),
            ("METRICS_FLUSH_INTERVAL", "250ms"),
            ("METRICS_HISTOGRAM_RESERVOIR", "1"),
        ])
        .unwrap();
        assert_eq!(c.metrics.namespace, "acme.recs");
        assert_eq!(c.metrics.flush_interval, Duration::from_millis(250));
        assert_eq!(c.metrics.histogram_reservoir_size, 1);

        let err = config(&[
            ("METRICS_NAMESPACE", "9 lives"),
            ("METRICS_FLUSH_INTERVAL", "1ms"),
            ("METRICS_HISTOGRAM_RESERVOIR", "0"),
        ])
        .unwrap_err();
        let mut names: Vec<_> = err.names().collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "METRICS_FLUSH_INTERVAL",
                "METRICS_HISTOGRAM_RESERVOIR",
                "METRICS_NAMESPACE"
            ]
        );
    }

    #[test]
    fn layer_is_pass_through_when_metrics_are_off() {
        let on = config(&[]).unwrap();
        assert!(RequestMetricsLayer::from_config(&on).is_enabled());
        for off in [
            config(&[("METRICS_BACKEND", "none")]).unwrap(),
            config(&[("MONITORING_ENABLED", "false")]).unwrap(),
        ] {
            assert!(!RequestMetricsLayer::from_config(&off).is_enabled());
            // Nothing is started either.
            assert!(start(&off).unwrap().is_none());
        }
    }

    #[test]
    fn constant_labels_are_identity_then_dd_tags() {
        let c = config(&[
            ("DD_ENV", "prod"),
            ("DD_SERVICE", "recs"),
            ("DD_VERSION", "1.0"),
            ("DD_TAGS", "team:core,canary"),
        ])
        .unwrap();
        let labels: Vec<String> = constant_labels(&c)
            .iter()
            .map(|l| format!("{}:{}", l.key(), l.value()))
            .collect();
        assert_eq!(
            labels,
            [
                "env:prod",
                "service:recs",
                "version:1.0",
                "team:core",
                "canary:"
            ]
        );
    }
}
