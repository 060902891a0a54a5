//! One call to set everything up, and a guard that flushes on drop.

use std::time::Duration;

use tracing::subscriber::Interest;
use tracing::{Level, Metadata, Subscriber, span};
use tracing_subscriber::Layer;
use tracing_subscriber::Registry;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{self, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::backends::{self, Backend};
use crate::config::{ApmProvider, Config};
pub use crate::error::InitError;
use crate::layers::catch_panic::panic_message;
use crate::log::JsonLogLayer;
use crate::log::output::{LogFilter, LogOutput};
use crate::request_line::DirectLines;
use crate::stack::MonitoringLayer;
use crate::trace_context;

/// Sets up monitoring for the whole process from `config`:
/// JSON logs on stdout through a non-blocking writer (filtered by
/// `RUST_LOG`), a panic hook that logs panics as JSON, and one warning per
/// unsupported setting. Returns the guard to keep alive until shutdown;
/// [`MonitoringGuard::apply`] wraps your router in the layers
/// ([`MonitoringGuard::layer`] gives them as a `tower::Layer`).
///
/// ```no_run
/// use axum::{routing::get, Router};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = treebeard::Config::from_env()?;
/// let monitoring = treebeard::init(&config)?;
/// let app: Router = monitoring.apply(Router::new().route("/health", get(|| async { "ok" })));
/// # Ok(()) }
/// ```
pub fn init(config: &Config) -> Result<MonitoringGuard, InitError> {
    check_features(config)?;
    // Validated with the configuration: this cannot fail.
    if let Ok(obfuscation) =
        crate::query::QueryObfuscation::new(config.apm.query_obfuscation.as_deref())
    {
        crate::query::set(obfuscation);
    }
    let mut backends: Vec<Box<dyn Backend>> = Vec::new();
    let (json, filter, log) = crate::log::output::stdout(config)?;
    let native = keep(backends::datadog::install(config)?, &mut backends);
    let otel = keep(backends::otel::install(config)?, &mut backends);
    let lines = LogLines {
        json: json.clone(),
        filter: filter.clone(),
        sentry: backends::sentry::tracing_layer_for(config),
    };
    // The OpenTelemetry layer has a per-layer filter: with one in the stack,
    // the registry enables only what some per-layer filter enables, so the
    // log lines need theirs too. Without it, they filter for the whole
    // subscriber (see `LogLines`).
    let lines: Box<dyn Layer<Registry> + Send + Sync> = if otel.is_some() {
        let (filter, sentry) = (lines.filter.clone(), lines.sentry.is_some());
        let filter = filter_fn(move |meta| wants(&filter, sentry, meta));
        Box::new(lines.with_filter(filter))
    } else {
        Box::new(lines)
    };
    // None unless TREEBEARD_DEV_CONSOLE is on: then no layer, no buffer.
    #[cfg(feature = "dev-console")]
    let console = crate::console::install(config);
    #[cfg(not(feature = "dev-console"))]
    let console: Option<tracing_subscriber::layer::Identity> = None;
    // The request line without a `tracing` event, when no layer reads it
    // as one (the console shows lines, OpenTelemetry makes span events).
    let direct = (otel.is_none() && console.is_none()).then(|| direct_lines(&json, &filter));
    tracing_subscriber::registry()
        .with(lines)
        .with(console)
        .with(native)
        .with(otel)
        .with(direct)
        .try_init()
        .map_err(InitError::SubscriberAlreadySet)?;
    install_panic_hook();
    // After our panic hook: Sentry's panic integration chains to it.
    keep(
        backends::sentry::install(config).map(|b| ((), b)),
        &mut backends,
    );
    log_start(config);
    crate::metrics::set_global(crate::metrics::Metrics::new(&config.metrics.namespace));
    let tracer_stats = backends.iter().find_map(|b| b.tracer_stats());
    match backends::metrics::install(config, tracer_stats.clone()) {
        Ok(metrics) => backends.extend(metrics),
        // Monitoring never stops the service: say why, and serve without metrics.
        Err(error) => tracing::error!(%error, "metrics are disabled"),
    }
    Ok(MonitoringGuard {
        layer: MonitoringLayer::new(config),
        backends,
        shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        tracer_stats,
        log,
    })
}

/// The JSON log layer and the Sentry layer, as one `tracing` layer that
/// decides for the whole subscriber what is recorded: spans and events
/// either of them wants (spans at `SPAN_LEVEL` and above always, which the
/// tracers need), each then handed only what it wants.
///
/// Not two layers with per-layer filters: a filtered layer looks the span up
/// in the registry on every span enter, exit, record and close (12 lookups
/// a request), although the JSON layer only needs spans' creation, records
/// and close and the Sentry layer wants no spans.
struct LogLines<J, E> {
    json: J,
    filter: LogFilter,
    sentry: Option<E>,
}

impl<J, E> LogLines<J, E> {
    /// What the subscriber records, per callsite. Only the exporters' rate
    /// limit changes per event; it is applied in `on_event`.
    fn wants(&self, meta: &Metadata<'_>) -> bool {
        wants(&self.filter, self.sentry.is_some(), meta)
    }
}

fn wants(filter: &LogFilter, sentry: bool, meta: &Metadata<'_>) -> bool {
    if meta.is_span() {
        filter.span(meta)
    } else {
        filter.event_callsite(meta) || sentry && backends::sentry::wants_event(meta)
    }
}

impl<S, J, E> Layer<S> for LogLines<J, E>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    J: Layer<S>,
    E: Layer<S>,
{
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.wants(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, _: layer::Context<'_, S>) -> bool {
        self.wants(meta)
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: layer::Context<'_, S>) {
        // Every span recorded is one the JSON layer wants (see `wants`).
        self.json.on_new_span(attrs, id, ctx);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: layer::Context<'_, S>) {
        self.json.on_record(id, values, ctx);
    }

    fn on_follows_from(&self, id: &span::Id, follows: &span::Id, ctx: layer::Context<'_, S>) {
        self.json.on_follows_from(id, follows, ctx);
    }

    fn on_enter(&self, id: &span::Id, ctx: layer::Context<'_, S>) {
        self.json.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &span::Id, ctx: layer::Context<'_, S>) {
        self.json.on_exit(id, ctx);
    }

    fn on_close(&self, id: span::Id, ctx: layer::Context<'_, S>) {
        self.json.on_close(id, ctx);
    }

    fn on_id_change(&self, old: &span::Id, new: &span::Id, ctx: layer::Context<'_, S>) {
        self.json.on_id_change(old, new, ctx);
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: layer::Context<'_, S>) {
        let meta = event.metadata();
        if self.filter.event_callsite(meta) && self.filter.event_now(meta) {
            self.json.on_event(event, ctx.clone());
        }
        if let Some(sentry) = &self.sentry
            && backends::sentry::wants_event(meta)
        {
            sentry.on_event(event, ctx);
        }
    }
}

/// The request line's direct path to `json` (see [`crate::request_line`]),
/// with `RUST_LOG`'s verdict on its three levels taken once.
fn direct_lines<W>(json: &JsonLogLayer<W>, filter: &LogFilter) -> DirectLines
where
    W: for<'w> MakeWriter<'w> + Clone + Send + Sync + 'static,
{
    let json = json.clone();
    let [error, warn, info] =
        [Level::ERROR, Level::WARN, Level::INFO].map(|level| filter.request_line(&level));
    DirectLines::new(move |dispatch, id, line| {
        let wanted = match line.level() {
            Level::ERROR => error,
            Level::WARN => warn,
            _ => info,
        };
        // Filtered out, the line is done with: nothing else reads it.
        !wanted || json.write_request_line(dispatch, id, line)
    })
}

/// Keeps an installed backend for the guard, and returns its layer.
fn keep<L, B: Backend + 'static>(
    installed: Option<(L, B)>,
    backends: &mut Vec<Box<dyn Backend>>,
) -> Option<L> {
    let (layer, backend) = installed?;
    backends.push(Box::new(backend));
    Some(layer)
}

/// One line saying what runs, and one warning per unsupported setting.
fn log_start(config: &Config) {
    if config.profiling_enabled {
        tracing::warn!(
            variable = "DD_PROFILING_ENABLED",
            "continuous profiling is not supported by the Rust library; DD_PROFILING_ENABLED=true is ignored"
        );
    }
    if config.library_backtraces
        && config.apm.provider == ApmProvider::DatadogOtel
        && trace_context::is_active()
    {
        tracing::warn!(
            variable = "RUST_LIB_BACKTRACE",
            "library errors capture backtraces (RUST_BACKTRACE is set): dd-trace-rs's connection errors will each capture one, and logging the first loads the binary's debug info for good (about +126 MB RSS); set RUST_LIB_BACKTRACE=0 to keep backtraces for panics only"
        );
    }
    tracing::info!(
        service = %config.service,
        env = config.env.as_deref(),
        version = %config.version,
        enabled = config.enabled,
        apm_provider = ?config.apm.provider,
        metrics_backend = ?config.metrics.backend,
        sentry = config.sentry.dsn.is_some(),
        tracing = trace_context::is_active(),
        "monitoring initialised"
    );
    if !config.enabled {
        tracing::info!(
            "MONITORING_ENABLED=false: request layers are pass-through, no data is exported"
        );
    }
    if config.console.enabled {
        if config.enabled {
            tracing::info!(
                variable = "TREEBEARD_DEV_CONSOLE",
                path = "/_treebeard",
                forced = config.console.forced,
                capacity = config.console.capacity,
                max_bytes = config.console.max_bytes,
                "dev console on: the last requests, their spans, lines and errors are kept in memory and served at /_treebeard to loopback clients"
            );
        } else {
            tracing::warn!(
                variable = "TREEBEARD_DEV_CONSOLE",
                "the dev console needs monitoring: MONITORING_ENABLED=false turns it off"
            );
        }
    }
}

/// Longest `error.stack` a panic line carries: a deep async backtrace is
/// tens of kilobytes, more than a log line should be.
const MAX_PANIC_STACK: usize = 8 * 1024;

/// Logs panics as one JSON ERROR line (with the request fields when the
/// panic happens inside a request), then calls the hook that was installed
/// before (the default one prints to stderr, where a test harness shows it).
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = panic_message(info.payload());
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
        let backtrace = std::backtrace::Backtrace::capture();
        let backtrace = (backtrace.status() == std::backtrace::BacktraceStatus::Captured)
            .then(|| bounded_stack(backtrace.to_string()));
        // DataDog's standard error attributes, so the log explorer shows them.
        tracing::error!(
            error.kind = "panic",
            error.message = message,
            error.location = location,
            error.stack = backtrace,
            "panic: {message}"
        );
        previous(info);
    }));
}

/// `stack` cut to [`MAX_PANIC_STACK`] bytes at a line end, saying how much
/// was left out.
fn bounded_stack(mut stack: String) -> String {
    if stack.len() <= MAX_PANIC_STACK {
        return stack;
    }
    // Never slice inside a character: a panic in the panic hook aborts.
    let mut end = MAX_PANIC_STACK;
    while !stack.is_char_boundary(end) {
        end -= 1;
    }
    let cut = stack[..end].rfind('\n').unwrap_or(end);
    let left_out = stack.len() - cut;
    stack.truncate(cut);
    stack.push_str(&format!("\n... ({left_out} more bytes)"));
    stack
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
    tracer_stats: Option<backends::TracerStats>,
    // Dropped last (fields drop in order): exporters may log while stopping.
    log: LogOutput,
}

impl MonitoringGuard {
    /// The layer stack for a router, wired to what `init` set up.
    ///
    /// Prefer [`apply`](Self::apply) for an axum `Router`: with
    /// `MONITORING_ENABLED=false`, `Router::layer` still boxes every route
    /// again for the pass-through.
    pub fn layer(&self) -> MonitoringLayer {
        self.layer.clone()
    }

    /// Wraps `router` in the layer stack, or returns it untouched when
    /// monitoring is disabled (see [`MonitoringLayer::apply`]): what the
    /// README shows, and the cheapest wiring either way.
    ///
    /// ```no_run
    /// use axum::{routing::get, Router};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = treebeard::Config::from_env()?;
    /// let monitoring = treebeard::init(&config)?;
    /// let app: Router = monitoring.apply(Router::new().route("/health", get(|| async { "ok" })));
    /// # Ok(()) }
    /// ```
    pub fn apply<S>(&self, router: axum::Router<S>) -> axum::Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        self.layer.clone().apply(router)
    }

    /// Sets the total time the guard waits for exporters to flush on drop
    /// (default [`DEFAULT_SHUTDOWN_TIMEOUT`]).
    pub fn set_shutdown_timeout(&mut self, timeout: Duration) {
        self.shutdown_timeout = timeout;
    }

    /// The span exporter's counters (spans sent, sent late after an agent
    /// outage, dropped by cause, payloads retried, what waits in the retry
    /// buffer), with `APM_PROVIDER=datadog`; `None` with another tracer or
    /// none. The same totals are logged when the guard drops. (The type is
    /// also [`crate::apm::ExportStats`].)
    pub fn tracer_stats(&self) -> Option<treebeard_datadog::ExportStats> {
        self.tracer_stats.as_ref().map(backends::TracerStats::read)
    }

    /// Exporter log lines suppressed by the rate limit (see [`crate::log::rate_limit`]).
    pub fn suppressed_exporter_lines(&self) -> u64 {
        self.log.exporter_lines.suppressed()
    }

    /// Log lines dropped so far because the writer could not keep up.
    pub fn dropped_log_lines(&self) -> usize {
        self.log.dropped_lines.get()
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

/// Fails when `config` asks for a tracer this build cannot start.
fn check_features(config: &Config) -> Result<(), InitError> {
    if config.console.enabled && !cfg!(feature = "dev-console") {
        return Err(InitError::FeatureDisabled {
            what: "TREEBEARD_DEV_CONSOLE=true".to_owned(),
            feature: "dev-console",
        });
    }
    if !config.enabled || !config.apm.enabled {
        return Ok(());
    }
    let built = match config.apm.provider {
        ApmProvider::None => true,
        ApmProvider::Datadog => cfg!(feature = "datadog"),
        ApmProvider::DatadogOtel => cfg!(feature = "datadog-otel"),
        ApmProvider::Otlp => cfg!(feature = "otlp"),
    };
    if built {
        Ok(())
    } else {
        Err(InitError::feature_disabled(config.apm.provider))
    }
}

/// The guard can sit in a `static OnceLock` (one `init` per test binary).
const _: () = {
    const fn assert_sync<T: Send + Sync>() {}
    assert_sync::<MonitoringGuard>();
};

#[cfg(test)]
// Test helpers outside #[test] fns unwrap too.
#[allow(clippy::unwrap_used)]
mod tests {
    use std::convert::Infallible;
    use std::net::SocketAddr;
    use std::str::FromStr;

    use axum::Router;
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use axum::routing::get;
    use http::{Request, StatusCode};
    use tower::ServiceExt;
    use tracing_subscriber::filter::Targets;

    use super::*;
    use crate::layers::request_log::RequestLogLayer;
    use crate::log::capture::Capture;

    /// The lines of `requests` served by an app with the request layer,
    /// with or without the direct path, their timings blanked.
    async fn request_lines(direct: bool, filter: &str) -> Vec<String> {
        let out = Capture::default();
        let json = JsonLogLayer::new()
            .with_correlation("svc", Some("test"), "1.0")
            .with_writer(out.clone());
        let filter = LogFilter::new(Targets::from_str(filter).unwrap());
        let direct = direct.then(|| direct_lines(&json, &filter));
        let subscriber = tracing_subscriber::registry().with(json).with(direct);
        let _default = tracing::subscriber::set_default(subscriber);
        let app = Router::new()
            .route("/users/{id}", get(|| async { "alice" }))
            .route(
                "/fail",
                get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }),
            )
            .route("/slow", get(std::future::pending::<&str>))
            .route(
                "/stream",
                get(|| async {
                    let chunks = ["a", "b"].map(Ok::<_, Infallible>);
                    Body::from_stream(futures_util::stream::iter(chunks))
                }),
            )
            .layer(RequestLogLayer::new());
        for path in [
            "/users/7?email=bob@example.com",
            "/fail",
            "/stream",
            "/nope",
        ] {
            let mut req = Request::get(path)
                .header("user-agent", "curl/8 (alice@example.com)")
                .body(Body::empty())
                .unwrap();
            req.extensions_mut()
                .insert(ConnectInfo("192.0.2.7:4000".parse::<SocketAddr>().unwrap()));
            let response = app.clone().oneshot(req).await.unwrap();
            axum::body::to_bytes(response.into_body(), 1024)
                .await
                .unwrap();
        }
        // The client leaves before the response.
        let slow = app.oneshot(Request::get("/slow").body(Body::empty()).unwrap());
        let timeout = tokio::time::timeout(std::time::Duration::from_millis(20), slow);
        assert!(timeout.await.is_err());
        out.text().lines().map(blank_timings).collect()
    }

    /// `line` with the values of its time fields replaced by `_`.
    fn blank_timings(line: &str) -> String {
        let mut line = line.to_owned();
        for key in [
            "\"timestamp\":",
            "\"duration\":",
            "\"latency_ms\":",
            "\"head_ms\":",
        ] {
            if let Some(start) = line.find(key).map(|i| i + key.len()) {
                let end = start + line[start..].find(',').unwrap();
                line.replace_range(start..end, "_");
            }
        }
        line
    }

    #[tokio::test]
    async fn the_direct_request_line_is_the_event_line_byte_for_byte() {
        let direct = request_lines(true, "info").await;
        let event = request_lines(false, "info").await;
        assert_eq!(direct, event);
        // Served, failed, streamed (timed to its end), unmatched, abandoned.
        assert_eq!(direct.len(), 5, "{direct:#?}");
        for expected in [
            r#""level":"INFO","logger.name":"treebeard::request_log","http.status_code":200,"duration":_,"latency_ms":_,"http.url_details.path":"/users/7","http.useragent":"curl/8 ([EMAIL])","network.client.ip":"192.0.2.7","message":"request completed""#,
            r#""level":"ERROR","logger.name":"treebeard::request_log","http.status_code":503"#,
            r#""head_ms":_"#,
            r#""http.status_code":404"#,
            r#""level":"WARN","logger.name":"treebeard::request_log","http.status_code":499"#,
        ] {
            assert!(
                direct.iter().any(|line| line.contains(expected)),
                "no line has {expected}: {direct:#?}"
            );
        }
        for line in &direct {
            assert!(line.contains(r#""dd.service":"svc""#), "{line}");
            assert!(line.contains(r#""http.method":"GET""#), "{line}");
        }
    }

    #[tokio::test]
    async fn the_direct_request_line_follows_rust_log() {
        // Only the 5xx line is at ERROR.
        let direct = request_lines(true, "warn,treebeard::request_log=error").await;
        assert_eq!(direct.len(), 1, "{direct:#?}");
        assert!(direct[0].contains(r#""http.status_code":503"#));
    }

    #[test]
    fn long_stacks_are_cut_at_a_line_end_and_say_so() {
        let short = "frame 1\nframe 2".to_owned();
        assert_eq!(bounded_stack(short.clone()), short);
        let long: String = (0..2000).map(|i| format!("frame {i}\n")).collect();
        let cut = bounded_stack(long.clone());
        assert!(cut.len() < MAX_PANIC_STACK + 40, "{}", cut.len());
        assert!(cut.starts_with("frame 0\nframe 1\n"));
        let tail = cut.rsplit('\n').next().unwrap_or_default();
        assert!(
            tail.starts_with("... (") && tail.ends_with(" more bytes)"),
            "{tail}"
        );
        assert!(!cut.contains("frame 1999"));
        // One long line of multi-byte characters is cut between characters.
        let wide = format!("a{}", "é".repeat(MAX_PANIC_STACK));
        let cut = bounded_stack(wide);
        assert!(
            cut.starts_with("aé") && cut.ends_with(" more bytes)"),
            "{}",
            cut.len()
        );
    }
}
