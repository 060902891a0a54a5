//! What every metrics exporter returns, and the labels they all set.

use std::time::Duration;

use crate::config::Config;
use crate::metrics::names;

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

/// What an exporter needs from the rest of the module.
pub(crate) struct Exporter {
    /// How long to wait on shutdown for the exporter's last flush.
    pub(crate) final_flush: Duration,
    /// Periodic maintenance (Prometheus histogram draining).
    pub(crate) upkeep: Option<Box<dyn Fn() + Send>>,
}

/// Constant labels: `env`, `service`, `version`, then `DD_TAGS`.
// Only the exporters read them.
#[cfg_attr(
    not(any(feature = "dogstatsd", feature = "prometheus")),
    allow(dead_code)
)]
pub(crate) fn constant_labels(config: &Config) -> Vec<metrics::Label> {
    use treebeard_conventions::tags;
    // No `env` tag without DD_ENV, as in DataDog's own clients.
    let env = config.env.as_deref().map(|env| (tags::ENV, env));
    let identity: Vec<(&str, &str)> = env
        .into_iter()
        .chain([
            (tags::SERVICE, config.service.as_str()),
            (tags::VERSION, config.version.as_str()),
        ])
        .collect();
    let mut labels = names::labels(&identity);
    labels.extend(names::constant_labels(&config.tags));
    labels
}
