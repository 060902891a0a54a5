//! The comparison stack: what a Rust user assembles by hand today from the
//! usual crates, each with its documented (or tutorial) set-up.
//!
//! Outside in: tower-http `SetRequestId` (UUID v4) → sentry-tower
//! `NewSentryLayer` + `SentryHttpLayer` with transactions (traces sample
//! rate 1.0) → tower-http `TraceLayer` logging at INFO into a JSON
//! `tracing-subscriber` fmt layer (non-blocking stdout), its span exported by
//! `tracing-opentelemetry` through dd-trace-rs (`datadog_opentelemetry::tracing().init()`)
//! → `PropagateRequestId` → `CatchPanicLayer` → DogStatsD request metrics
//! (`metrics` + `metrics-exporter-dogstatsd`) in an `axum::middleware::from_fn`.
//!
//! Endpoints come from `treebeard::Config` so both stacks read the same
//! variables: the agent (`DD_TRACE_AGENT_URL`, read by dd-trace-rs itself),
//! `SENTRY_DSN` (required here), and the DogStatsD address.

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use treebeard::config::{Config, DogStatsdTarget};

/// Flushes the exporters on drop: spans, then Sentry, then log lines.
pub struct Guard {
    provider: SdkTracerProvider,
    _sentry: sentry::ClientInitGuard,
    _log: WorkerGuard,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
        // metrics-exporter-dogstatsd has no flush: what its forwarder has
        // not sent by now is dropped (it sends every few seconds).
    }
}

/// Installs the subscriber and exporters and wraps `routes`.
pub fn build(routes: Router, config: &Config) -> (Router, Guard) {
    // Logs and spans.
    let (writer, log_guard) = tracing_appender::non_blocking(std::io::stdout());
    let provider = datadog_opentelemetry::tracing().init();
    let tracer = provider.tracer("hand-assembled");
    tracing_subscriber::registry()
        .with(LevelFilter::INFO)
        .with(tracing_subscriber::fmt::layer().json().with_writer(writer))
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .init();

    // Errors and transactions.
    let dsn = config
        .sentry
        .dsn
        .as_ref()
        .expect("hand-assembled needs SENTRY_DSN (benches/run.sh points it at a local sink)");
    let mut options = sentry::ClientOptions::new()
        .dsn(dsn.expose())
        .release(config.sentry.release.clone())
        .traces_sample_rate(1.0);
    options.environment = config.sentry.environment.clone().map(Into::into);
    let sentry = sentry::init(options);

    // Request metrics.
    let statsd = match &config.metrics.dogstatsd {
        DogStatsdTarget::Udp { host, port } => format!("udp://{host}:{port}"),
        DogStatsdTarget::Unix(path) => format!("unixgram://{}", path.display()),
        other => panic!("unsupported DogStatsD target {other:?}"),
    };
    metrics_exporter_dogstatsd::DogStatsDBuilder::default()
        .with_remote_address(statsd)
        .expect("DogStatsD address")
        .install()
        .expect("install the DogStatsD recorder");

    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(sentry_tower::NewSentryLayer::<Request<Body>>::new_from_top())
        .layer(sentry_tower::SentryHttpLayer::new().enable_transaction())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<Body>| {
                    let request_id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        uri = %req.uri(),
                        request_id,
                    )
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(CatchPanicLayer::new())
        .layer(axum::middleware::from_fn(record_metrics));
    let guard = Guard {
        provider,
        _sentry: sentry,
        _log: log_guard,
    };
    (routes.layer(layers), guard)
}

/// A request counter and a latency histogram tagged with method, route and status.
async fn record_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("http.server.requests", &labels).increment(1);
    metrics::histogram!("http.server.request.duration", &labels)
        .record(start.elapsed().as_secs_f64());
    response
}
