//! Starting the metrics exporter chosen by `METRICS_BACKEND` and the
//! process and runtime sampler, and stopping them on shutdown.

#[cfg(feature = "dogstatsd")]
mod dogstatsd;
mod exporter;
#[cfg(feature = "prometheus")]
pub(crate) mod prometheus;
mod resources;

use std::time::Duration;

use super::{Backend, TracerStats};
use crate::config::{Config, MetricsBackend};
use exporter::Exporter;
pub use exporter::MetricsError;
#[cfg(test)]
use exporter::constant_labels;

/// Starts the exporter and the resource sampler for `config` (which also
/// publishes the span exporter's counters from `tracer`, when given).
/// `Ok(None)` when metrics are off.
pub(crate) fn install(
    config: &Config,
    tracer: Option<TracerStats>,
) -> Result<Option<Box<dyn Backend>>, MetricsError> {
    if !config.enabled {
        return Ok(None);
    }
    let exporter = match config.metrics.backend {
        MetricsBackend::None => return Ok(None),
        MetricsBackend::DogStatsd => start_dogstatsd(config)?,
        MetricsBackend::Prometheus => start_prometheus(config)?,
    };
    let sampler = resources::Sampler::start(config, exporter.upkeep, tracer)?;
    Ok(Some(Box::new(MetricsHandle {
        sampler: Some(sampler),
        final_flush: exporter.final_flush,
    })))
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
        if self.final_flush > left {
            tracing::warn!(
                flush_interval_ms = self.final_flush.as_millis() as u64,
                budget_ms = left.as_millis() as u64,
                "metrics recorded since the last flush may be lost: METRICS_FLUSH_INTERVAL is longer than what is left of the shutdown timeout"
            );
        }
        std::thread::sleep(self.final_flush.min(left));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{DEFAULT_FLUSH_INTERVAL, DEFAULT_SAMPLE_INTERVAL, RequestMetricsLayer};

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
            assert!(install(&off, None).unwrap().is_none());
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
