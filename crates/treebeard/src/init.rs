//! One call to set everything up, and a guard that flushes on drop.

use std::str::FromStr;
use std::time::Duration;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::backends::Backend;
use crate::config::Config;
use crate::layers::catch_panic::panic_message;
use crate::log::rate_limit::RateLimit;
use crate::log::{JsonLogLayer, LOG_BUFFER_LINES};
use crate::stack::MonitoringLayer;

/// Why [`init`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// Another global `tracing` subscriber was installed first.
    #[error(
        "a global tracing subscriber is already installed: call treebeard::init once, before any other logging set-up"
    )]
    SubscriberAlreadySet(#[source] tracing_subscriber::util::TryInitError),
    /// The log filter did not parse.
    #[error("invalid log filter {filter:?}")]
    LogFilter {
        /// The filter text.
        filter: String,
        /// Why it failed.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    /// The configuration asks for a backend whose cargo feature is off.
    #[error(
        "{what} needs the `{feature}` cargo feature of treebeard, which this build does not enable"
    )]
    FeatureDisabled {
        /// What was asked for, such as `APM_PROVIDER=Otlp`.
        what: String,
        /// The feature to enable.
        feature: &'static str,
    },
    /// An exporter could not be built.
    #[error("could not start an exporter: {0}")]
    Exporter(String),
}

/// Bytes of log lines the writer thread gathers before a write to stdout.
const LOG_WRITE_BUFFER: usize = 64 * 1024;

/// Spans at this level or above are traced whatever `RUST_LOG` says.
pub const SPAN_LEVEL: tracing::Level = tracing::Level::INFO;

/// Sets up monitoring for the whole process from `config`:
/// JSON logs on stdout through a non-blocking writer (filtered by
/// `RUST_LOG`), a panic hook that logs panics as JSON, and one warning per
/// unsupported setting. Returns the guard to keep alive until shutdown;
/// [`MonitoringGuard::layer`] gives the layer for your router.
///
/// ```no_run
/// use axum::{routing::get, Router};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = treebeard::Config::from_env()?;
/// let monitoring = treebeard::init(&config)?;
/// let app: Router = Router::new()
///     .route("/health", get(|| async { "ok" }))
///     .layer(monitoring.layer());
/// # Ok(()) }
/// ```
pub fn init(config: &Config) -> Result<MonitoringGuard, InitError> {
    let filter = Targets::from_str(&config.log_filter).map_err(|source| InitError::LogFilter {
        filter: config.log_filter.clone(),
        source,
    })?;
    let (writer, log_guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(LOG_BUFFER_LINES)
        .thread_name("treebeard-log-writer")
        // The writer thread flushes whenever it has drained the queue, so a
        // buffer costs no latency when idle and turns a burst of lines into
        // one write(2) instead of one per line.
        .finish(std::io::BufWriter::with_capacity(
            LOG_WRITE_BUFFER,
            std::io::stdout(),
        ));
    let dropped_lines = writer.error_counter();
    let json = JsonLogLayer::from_config(config).with_writer(writer);
    #[allow(unused_mut)] // only pushed to when an exporter feature is on
    let mut backends: Vec<Box<dyn Backend>> = Vec::new();

    crate::apm::check_features(config)?;
    #[cfg(feature = "datadog")]
    let native = match crate::backends::datadog::install(config)? {
        Some((layer, backend)) => {
            backends.push(Box::new(backend));
            Some(layer)
        }
        None => None,
    };
    #[cfg(not(feature = "datadog"))]
    let native: Option<tracing_subscriber::layer::Identity> = None;

    #[cfg(feature = "tracing-otel")]
    let otel = match crate::backends::otel::install(config)? {
        Some((tracer, backend)) => {
            backends.push(Box::new(backend));
            // Spans only: events stay log lines instead of becoming span events.
            let layer = tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_location(false)
                .with_threads(false)
                .with_tracked_inactivity(false)
                .with_target(false)
                .with_level(false)
                // Parents come from the tracing span tree, and outgoing
                // calls read the span's context explicitly: no need to
                // swap OpenTelemetry's thread-local context on every poll.
                .with_context_activation(false)
                .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                    meta.is_span() && *meta.level() <= SPAN_LEVEL
                }));
            Some(layer)
        }
        None => None,
    };
    #[cfg(not(feature = "tracing-otel"))]
    let otel: Option<tracing_subscriber::layer::Identity> = None;

    #[cfg(feature = "sentry")]
    let sentry = (config.enabled && config.sentry.dsn.is_some())
        .then(crate::backends::sentry::tracing_layer);
    #[cfg(not(feature = "sentry"))]
    let sentry: Option<tracing_subscriber::layer::Identity> = None;

    // RUST_LOG filters log lines only. Spans at INFO and above are always
    // seen, so `RUST_LOG=warn` keeps traces and the request fields on lines.
    let exporter_lines = std::sync::Arc::new(RateLimit::default());
    let limit = exporter_lines.clone();
    let json_filter = tracing_subscriber::filter::dynamic_filter_fn(move |meta, _| {
        if meta.is_span() {
            return *meta.level() <= SPAN_LEVEL || filter.would_enable(meta.target(), meta.level());
        }
        filter.would_enable(meta.target(), meta.level()) && limit.allow(meta.target())
    });
    tracing_subscriber::registry()
        .with(json.with_filter(json_filter))
        .with(native)
        .with(otel)
        .with(sentry)
        .try_init()
        .map_err(InitError::SubscriberAlreadySet)?;
    install_panic_hook();
    // After our panic hook: Sentry's panic integration chains to it.
    #[cfg(feature = "sentry")]
    if let Some(backend) = crate::backends::sentry::install(config) {
        backends.push(Box::new(backend));
    }

    if config.profiling_enabled {
        tracing::warn!(
            variable = "DD_PROFILING_ENABLED",
            "continuous profiling is not supported by the Rust library; DD_PROFILING_ENABLED=true is ignored"
        );
    }
    if config.library_backtraces
        && config.apm.provider == crate::config::ApmProvider::DatadogOtel
        && crate::apm::is_active()
    {
        tracing::warn!(
            variable = "RUST_LIB_BACKTRACE",
            "library errors capture backtraces (RUST_BACKTRACE is set): dd-trace-rs's connection errors will each capture one, and logging the first loads the binary's debug info for good (about +126 MB RSS); set RUST_LIB_BACKTRACE=0 to keep backtraces for panics only"
        );
    }
    tracing::info!(
        service = %config.service,
        env = %config.env,
        version = %config.version,
        enabled = config.enabled,
        apm_provider = ?config.apm.provider,
        metrics_backend = ?config.metrics.backend,
        sentry = config.sentry.dsn.is_some(),
        tracing = crate::apm::is_active(),
        "monitoring initialised"
    );
    if !config.enabled {
        tracing::info!(
            "MONITORING_ENABLED=false: request layers are pass-through, no data is exported"
        );
    }
    match crate::backends::metrics::install(config) {
        Ok(metrics) => backends.extend(metrics),
        // Monitoring never stops the service: say why, and serve without metrics.
        Err(error) => tracing::error!(%error, "metrics are disabled"),
    }
    Ok(MonitoringGuard {
        layer: MonitoringLayer::new(config),
        backends,
        shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        dropped_lines,
        exporter_lines,
        _log_guard: log_guard,
    })
}

/// Logs panics as one JSON ERROR line (with the request fields when the
/// panic happens inside a request), instead of the default text on stderr.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = panic_message(info.payload());
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
        let backtrace = std::backtrace::Backtrace::capture();
        let backtrace = (backtrace.status() == std::backtrace::BacktraceStatus::Captured)
            .then(|| backtrace.to_string());
        // DataDog's standard error attributes, so the log explorer shows them.
        tracing::error!(
            error.kind = "panic",
            error.message = message,
            error.location = location,
            error.stack = backtrace,
            "panic: {message}"
        );
    }));
}

/// How long [`MonitoringGuard`] waits, in total, for exporters to flush.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Keeps monitoring running; dropping it flushes pending data (bounded by
/// [`DEFAULT_SHUTDOWN_TIMEOUT`]) and then the log writer.
///
/// Keep it alive for the life of the server (`let _monitoring = ...`), and
/// let it drop after the server has shut down.
#[must_use = "dropping the guard stops the log writer"]
#[derive(Debug)]
pub struct MonitoringGuard {
    layer: MonitoringLayer,
    backends: Vec<Box<dyn Backend>>,
    shutdown_timeout: Duration,
    dropped_lines: ErrorCounter,
    exporter_lines: std::sync::Arc<RateLimit>,
    // Dropped last (fields drop in order): exporters may log while stopping.
    _log_guard: WorkerGuard,
}

impl MonitoringGuard {
    /// The layer stack for a router, wired to what `init` set up.
    pub fn layer(&self) -> MonitoringLayer {
        self.layer.clone()
    }

    /// Sets the total time the guard waits for exporters to flush on drop
    /// (default [`DEFAULT_SHUTDOWN_TIMEOUT`]).
    pub fn set_shutdown_timeout(&mut self, timeout: Duration) {
        self.shutdown_timeout = timeout;
    }

    /// Exporter log lines suppressed by the rate limit (see [`crate::log::rate_limit`]).
    pub fn suppressed_exporter_lines(&self) -> u64 {
        self.exporter_lines.suppressed()
    }

    /// Log lines dropped so far because the writer could not keep up.
    pub fn dropped_log_lines(&self) -> usize {
        self.dropped_lines.dropped_lines()
    }
}

impl Drop for MonitoringGuard {
    fn drop(&mut self) {
        // Newest first; each backend gets what is left of the overall budget.
        let deadline = std::time::Instant::now() + self.shutdown_timeout;
        while let Some(mut backend) = self.backends.pop() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            backend.shutdown(left);
        }
        let suppressed = self.suppressed_exporter_lines();
        if suppressed > 0 {
            tracing::warn!(
                suppressed_exporter_lines = suppressed,
                "exporter log lines were rate-limited"
            );
        }
        let dropped = self.dropped_log_lines();
        if dropped > 0 {
            tracing::warn!(
                dropped_log_lines = dropped,
                "log lines were dropped because stdout could not keep up"
            );
        }
    }
}
