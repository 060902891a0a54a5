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
mod sql;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::{Instrument, Span};

pub use sql::obfuscate_sql;

use crate::config::{ApmProvider, Config};
use crate::init::InitError;

/// Whether a tracer is installed: without one, propagation work is skipped.
pub(crate) static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Whether the installed tracer is the native DataDog one (else OpenTelemetry).
#[cfg_attr(not(feature = "datadog"), allow(dead_code))]
pub(crate) static NATIVE: AtomicBool = AtomicBool::new(false);

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
    #[cfg(feature = "datadog")]
    if NATIVE.load(Ordering::Relaxed) {
        return crate::backends::datadog::continue_trace(span, headers);
    }
    #[cfg(feature = "tracing-otel")]
    return crate::backends::otel::continue_trace(span, headers);
    #[allow(unreachable_code)]
    {
        let _ = (span, headers);
        None
    }
}

/// The trace ID of the current span (the request's, inside a handler):
/// all 128 bits, as `otel.trace_id` shows them in hex; DataDog's
/// `trace_id` and the logs' `dd.trace_id` are its low 64 bits. `None`
/// without a tracer or outside any traced span.
///
/// ```
/// let trace = treebeard::apm::current_trace_id();
/// # let _ = trace;
/// ```
pub fn current_trace_id() -> Option<u128> {
    if !is_active() {
        return None;
    }
    crate::log::json::trace_ids_of(&Span::current()).map(|(trace, _)| trace)
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

/// Writes the trace context of `span` into outgoing `headers`, in the
/// formats of `DD_TRACE_PROPAGATION_STYLE`.
pub fn inject_context(span: &Span, headers: &mut http::HeaderMap) {
    if !is_active() {
        return;
    }
    #[cfg(feature = "datadog")]
    if NATIVE.load(Ordering::Relaxed) {
        return crate::backends::datadog::inject(span, headers);
    }
    #[cfg(feature = "tracing-otel")]
    crate::backends::otel::inject(span, headers);
    #[cfg(not(feature = "tracing-otel"))]
    let _ = (span, headers);
}

/// Makes a helper span's trace and span IDs available to the JSON log
/// formatter (the native layer keeps them in its own record).
fn attach_ids(span: &Span) {
    #[cfg(feature = "tracing-otel")]
    if is_active() && !NATIVE.load(Ordering::Relaxed) {
        let _ = crate::backends::otel::attach_ids(span);
    }
    #[cfg(not(feature = "tracing-otel"))]
    let _ = span;
}

/// The error for an `APM_PROVIDER` whose cargo feature this build lacks.
#[cfg_attr(
    all(feature = "datadog", feature = "datadog-otel", feature = "otlp"),
    allow(dead_code)
)]
pub(crate) fn feature_disabled(provider: ApmProvider) -> InitError {
    InitError::FeatureDisabled {
        what: format!("APM_PROVIDER={}", provider.as_str()),
        feature: provider.as_str(),
    }
}

/// Fails when `config` asks for a tracer this build cannot start.
pub(crate) fn check_features(config: &Config) -> Result<(), InitError> {
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
        Err(feature_disabled(config.apm.provider))
    }
}

/// Whether `headers` may carry a trace context in any style (or baggage):
/// most requests carry none, and then extraction is skipped.
///
/// One pass over the names: a request has a handful of headers, and
/// comparing them is cheaper than hashing five custom names to look them up.
#[cfg(any(feature = "datadog", feature = "tracing-otel"))]
pub(crate) fn has_trace_headers(headers: &http::HeaderMap) -> bool {
    headers.keys().any(|name| {
        matches!(
            name.as_str(),
            "x-datadog-trace-id" | "traceparent" | "b3" | "x-b3-traceid" | "baggage"
        )
    })
}

/// `key:value` → (key, value); a bare tag becomes (tag, "").
#[cfg(any(feature = "datadog", feature = "tracing-otel"))]
pub(crate) fn split_tag(tag: &str) -> (String, String) {
    match tag.split_once(':') {
        Some((k, v)) => (k.to_owned(), v.to_owned()),
        None => (tag.to_owned(), String::new()),
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
    attach_ids(&span);
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
    // Given at creation: each later `record` is one more trip through
    // every layer.
    let name = format!("{db_system}.query");
    let span = tracing::info_span!(
        "db.query",
        otel.name = name.as_str(),
        otel.kind = "client",
        operation.name = name.as_str(),
        resource.name = resource.as_ref(),
        span.type = "sql",
        db.system = db_system,
        db.sql.table = table,
        db.operation = operation,
    );
    attach_ids(&span);
    span
}

/// A span for a call to an external API, like the reference's
/// `trace_external_api('claude', '/v1/messages')`: DataDog type `http`,
/// resource `<target> <endpoint>`, tag `peer.service = <target>`.
pub fn external_api(target: &str, endpoint: &str) -> Span {
    // Given at creation, as in `database_query`.
    let resource = format!("{target} {endpoint}");
    let span = tracing::info_span!(
        "external_api.request",
        otel.kind = "client",
        operation.name = "external_api.request",
        resource.name = resource.as_str(),
        span.type = "http",
        peer.service = target,
        http.route = endpoint,
    );
    attach_ids(&span);
    span
}
