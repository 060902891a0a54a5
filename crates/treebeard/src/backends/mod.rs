//! The exporters: each installs itself from [`Config`](crate::config::Config)
//! and returns what [`init`](crate::init()) keeps (a `tracing` layer, and a
//! [`Backend`] to flush on shutdown). None of them knows another, or `init`.
//!
//! A backend whose cargo feature is off is a stub here with the same
//! functions that installs nothing, so `init` composes them without `cfg`.

#[cfg(feature = "datadog")]
pub(crate) mod datadog;
pub(crate) mod metrics;
#[cfg(feature = "tracing-otel")]
pub(crate) mod otel;
#[cfg(feature = "sentry")]
pub(crate) mod sentry;

use std::time::Duration;

/// An exporter started by [`init`](crate::init()) (traces, metrics, errors):
/// flushed and stopped by the guard.
pub(crate) trait Backend: Send + Sync + std::fmt::Debug {
    /// Flushes what is pending and stops, within `timeout`.
    fn shutdown(&mut self, timeout: Duration);

    /// The span exporter's counters, for a backend that exports spans and
    /// counts them.
    fn tracer_stats(&self) -> Option<TracerStats> {
        None
    }
}

/// Reads the span exporter's counters (sent, dropped, retried), from any
/// thread: the guard reports them, the metrics sampler publishes them.
#[derive(Clone)]
pub(crate) struct TracerStats(
    std::sync::Arc<dyn Fn() -> treebeard_datadog::ExportStats + Send + Sync>,
);

impl TracerStats {
    /// Counters read by `read`.
    #[cfg_attr(not(feature = "datadog"), allow(dead_code))]
    pub(crate) fn new(
        read: impl Fn() -> treebeard_datadog::ExportStats + Send + Sync + 'static,
    ) -> Self {
        Self(std::sync::Arc::new(read))
    }

    /// The counters now.
    pub(crate) fn read(&self) -> treebeard_datadog::ExportStats {
        (self.0)()
    }
}

impl std::fmt::Debug for TracerStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TracerStats").field(&self.read()).finish()
    }
}

/// The backend of a stub: never made.
#[cfg(not(all(feature = "datadog", feature = "tracing-otel", feature = "sentry")))]
#[derive(Debug)]
pub(crate) enum Disabled {}

#[cfg(not(all(feature = "datadog", feature = "tracing-otel", feature = "sentry")))]
impl Backend for Disabled {
    fn shutdown(&mut self, _: Duration) {}
}

/// A tracer stub: no layer, no backend.
#[cfg(not(all(feature = "datadog", feature = "tracing-otel")))]
type NoTracer =
    Result<Option<(tracing_subscriber::layer::Identity, Disabled)>, crate::error::InitError>;

#[cfg(not(feature = "datadog"))]
pub(crate) mod datadog {
    /// `APM_PROVIDER=datadog` is compiled out (`init` reports it first).
    pub(crate) fn install(_: &crate::config::Config) -> super::NoTracer {
        Ok(None)
    }
}

#[cfg(not(feature = "tracing-otel"))]
pub(crate) mod otel {
    /// The OpenTelemetry tracers are compiled out (`init` reports it first).
    pub(crate) fn install(_: &crate::config::Config) -> super::NoTracer {
        Ok(None)
    }
}

#[cfg(not(feature = "sentry"))]
pub(crate) mod sentry {
    /// Sentry is compiled out: no layer.
    pub(crate) fn tracing_layer_for(
        _: &crate::config::Config,
    ) -> Option<tracing_subscriber::layer::Identity> {
        None
    }

    /// Sentry is compiled out: it wants nothing.
    pub(crate) fn wants_event(_: &tracing::Metadata<'_>) -> bool {
        false
    }

    /// Sentry is compiled out: no client.
    pub(crate) fn install(_: &crate::config::Config) -> Option<super::Disabled> {
        None
    }
}
