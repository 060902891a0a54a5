//! The exporters: each installs itself from [`Config`](crate::config::Config)
//! and returns what [`init`](crate::init()) keeps to flush it on shutdown.
//! None of them knows another, or `init`.

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
pub(crate) trait Backend: Send + std::fmt::Debug {
    /// Flushes what is pending and stops, within `timeout`.
    fn shutdown(&mut self, timeout: Duration);
}
