//! Distributed tracing: DataDog APM (or OTLP) spans from `tracing` spans.
//!
//! [`crate::init`] installs the exporter chosen by `APM_PROVIDER`
//! (see [`install`]); the request layer then makes every request a server
//! span that continues the caller's trace, and these helpers add child spans:
//!
//! | helper | DataDog span |
//! |---|---|
//! | [`trace_async`] | any operation, with an optional service override |
//! | [`database_query`] | type `sql`, resource = the query with literals obfuscated |
//! | [`external_api`] | type `http`, resource = `<target> <endpoint>` |
//! | [`client::TracedRequest::send_traced`] | an outgoing HTTP call that carries the trace on |
//!
//! Without a tracer (feature off, `APM_PROVIDER=none`, `DD_TRACE_ENABLED=false`
//! or `MONITORING_ENABLED=false`) the helpers still make `tracing` spans —
//! they show in logs — and nothing is exported.

#[cfg(feature = "http-client")]
pub mod client;
#[cfg(feature = "tracing-otel")]
mod export;
mod sql;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::{Instrument, Span, field};

#[cfg(feature = "tracing-otel")]
pub(crate) use export::install;
pub use sql::obfuscate_sql;

/// Whether a tracer is installed: without one, propagation work is skipped.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Whether spans are being exported.
pub fn is_active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Continues the trace of the incoming `headers` in `span` (a server span
/// not yet entered), then attaches the span's IDs for log correlation.
///
/// Headers that do not parse start a new trace: never an error.
pub(crate) fn continue_trace(span: &Span, headers: &http::HeaderMap) -> Option<DatadogIds> {
    if !is_active() {
        return None;
    }
    #[cfg(feature = "tracing-otel")]
    {
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;

        if has_trace_headers(headers) {
            let parent = opentelemetry::global::get_text_map_propagator(|p| {
                p.extract(&opentelemetry_http::HeaderExtractor(headers))
            });
            if parent.span().span_context().is_valid() {
                let _ = span.set_parent(parent);
            }
        }
        attach_ids(span)
    }
    #[cfg(not(feature = "tracing-otel"))]
    {
        let _ = (span, headers);
        None
    }
}

/// A request span's DataDog IDs as logs show them (`dd.trace_id`: the low
/// 64 bits of the trace ID; `dd.span_id`). The request layer puts them in
/// the request's extensions, so inner layers (error capture) need no trip
/// through the span registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DatadogIds {
    pub(crate) trace_id: u64,
    pub(crate) span_id: u64,
}

/// Whether `headers` carry any trace context at all: most requests do not,
/// and then extraction (which allocates per propagation style) is skipped.
#[cfg(feature = "tracing-otel")]
fn has_trace_headers(headers: &http::HeaderMap) -> bool {
    const NAMES: [&str; 5] = [
        "x-datadog-trace-id",
        "traceparent",
        "b3",
        "x-b3-traceid",
        "baggage",
    ];
    NAMES.iter().any(|name| headers.contains_key(*name))
}

/// Writes the trace context of `span` into outgoing `headers`, in the
/// formats of `DD_TRACE_PROPAGATION_STYLE`.
pub fn inject_context(span: &Span, headers: &mut http::HeaderMap) {
    if !is_active() {
        return;
    }
    #[cfg(feature = "tracing-otel")]
    {
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let cx = span.context();
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&cx, &mut opentelemetry_http::HeaderInjector(headers))
        });
    }
    #[cfg(not(feature = "tracing-otel"))]
    let _ = (span, headers);
}

/// Makes `span`'s trace and span IDs available to the JSON log formatter,
/// and returns them.
fn attach_ids(span: &Span) -> Option<DatadogIds> {
    #[cfg(feature = "tracing-otel")]
    {
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let cx = span.context();
        let sc = cx.span().span_context().clone();
        if sc.is_valid() {
            let trace = u128::from_be_bytes(sc.trace_id().to_bytes());
            let span_id = u64::from_be_bytes(sc.span_id().to_bytes());
            crate::log::json::attach_trace_ids(span, trace, span_id);
            return Some(DatadogIds {
                trace_id: trace as u64,
                span_id,
            });
        }
        None
    }
    #[cfg(not(feature = "tracing-otel"))]
    {
        let _ = span;
        None
    }
}

/// Runs `future` inside a span named `operation`, optionally reported under
/// another `service` (like the reference's `@trace_async_function`).
///
/// ```
/// # async fn generate(_: u64) -> Vec<String> { vec![] }
/// # async fn run() {
/// let items = treebeard::apm::trace_async(
///     "recommendation.generate",
///     Some("recommendation-engine"),
///     generate(42),
/// )
/// .await;
/// # }
/// ```
///
/// The attribute form is `tracing`'s own:
/// `#[tracing::instrument(name = "recommendation.generate", skip_all, fields(service.name = "recommendation-engine"))]`.
pub async fn trace_async<F: Future>(
    operation: &str,
    service: Option<&str>,
    future: F,
) -> F::Output {
    let span = tracing::info_span!(
        "trace_async",
        otel.name = operation,
        operation.name = operation,
        resource.name = operation,
        service.name = service,
    );
    let _ = attach_ids(&span);
    future.instrument(span).await
}

/// A span for one database query, like the reference's `trace_database_query`:
/// DataDog type `sql`, operation `<db_system>.query`, resource = `query` with
/// its literals replaced by `?` (no values leave the process), tags
/// `db.system`, `db.sql.table` and `db.operation`.
///
/// ```
/// let span = treebeard::apm::database_query("select_user", "users", "sqlite", "SELECT * FROM users WHERE id = 42");
/// let user = span.in_scope(|| { /* run the query */ 42 });
/// ```
pub fn database_query(operation: &str, table: &str, db_system: &str, query: &str) -> Span {
    let resource = obfuscate_sql(query);
    let span = tracing::info_span!(
        "db.query",
        otel.name = field::Empty,
        otel.kind = "client",
        operation.name = field::Empty,
        resource.name = resource.as_ref(),
        span.type = "sql",
        db.system = db_system,
        db.sql.table = table,
        db.operation = operation,
    );
    let name = format!("{db_system}.query");
    span.record("otel.name", name.as_str());
    span.record("operation.name", name.as_str());
    let _ = attach_ids(&span);
    span
}

/// A span for a call to an external API, like the reference's
/// `trace_external_api('claude', '/v1/messages')`: DataDog type `http`,
/// resource `<target> <endpoint>`, tag `peer.service = <target>`.
pub fn external_api(target: &str, endpoint: &str) -> Span {
    let span = tracing::info_span!(
        "external_api.request",
        otel.kind = "client",
        operation.name = "external_api.request",
        resource.name = field::Empty,
        span.type = "http",
        peer.service = target,
        http.route = endpoint,
    );
    span.record("resource.name", format!("{target} {endpoint}").as_str());
    let _ = attach_ids(&span);
    span
}
