//! Distributed tracing: DataDog APM (or OTLP) spans from `tracing` spans.
//!
//! [`crate::init`] installs the exporter chosen by `APM_PROVIDER`; the request layer then makes every request a server
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

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;

use tracing::{Instrument, Span};

pub use sql::obfuscate_sql;
/// The span exporter's counters ([`MonitoringGuard::tracer_stats`](crate::MonitoringGuard::tracer_stats)).
pub use treebeard_datadog::ExportStats;

use crate::trace_context;

/// Whether spans are being exported.
pub fn is_active() -> bool {
    trace_context::is_active()
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
    trace_context::trace_ids_of(&Span::current()).map(|ids| ids.trace_id)
}

/// Writes the trace context of `span` into outgoing `headers`, in the
/// formats of `DD_TRACE_PROPAGATION_STYLE`.
pub fn inject_context(span: &Span, headers: &mut http::HeaderMap) {
    if let Some(tracer) = trace_context::tracer() {
        tracer.inject(span, headers);
    }
}

/// Makes a helper span's trace and span IDs available to the JSON log
/// formatter (the native layer keeps them in its own record).
fn attach_ids(span: &Span) {
    if let Some(tracer) = trace_context::tracer() {
        tracer.attach_ids(span);
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
    let resource = query_resource(query);
    // Given at creation: each later `record` is one more trip through
    // every layer.
    let name = query_operation(db_system);
    let span = tracing::info_span!(
        "db.query",
        otel.name = name.as_ref(),
        otel.kind = "client",
        operation.name = name.as_ref(),
        resource.name = &*resource,
        span.type = "sql",
        db.system = db_system,
        db.sql.table = table,
        db.operation = operation,
    );
    attach_ids(&span);
    span
}

/// The root span of work outside a request (a queue consumer's message, a
/// cron-style loop's run, a job at start-up), as a request's server span
/// is for a request: a trace of its own, DataDog operation and resource
/// `<name>`, type `worker`; every line logged inside carries `job` and the
/// trace IDs, and its ERROR lines become Sentry events as anywhere.
///
/// ```
/// use tracing::Instrument;
/// # async fn refresh() {}
/// # async fn run() {
/// loop {
///     refresh().instrument(treebeard::apm::background_job("cache.refresh")).await;
///     # break;
/// }
/// # }
/// ```
pub fn background_job(name: &str) -> Span {
    // No parent: a job started from a request is its own trace (to stay in
    // the request's, spawn it with `.in_current_span()` instead).
    let span = tracing::info_span!(
        parent: None,
        "job",
        otel.name = name,
        otel.kind = "internal",
        operation.name = name,
        resource.name = name,
        span.type = "worker",
        job = name,
    );
    attach_ids(&span);
    span
}

/// Queries whose resource a thread keeps (see [`query_resource`]).
const RESOURCE_CACHE_ENTRIES: usize = 64;

/// Longer queries are obfuscated on every call rather than kept.
const RESOURCE_CACHE_MAX_QUERY: usize = 4 * 1024;

thread_local! {
    /// The obfuscated resource of each query text this thread ran lately.
    static RESOURCES: RefCell<HashMap<Box<str>, Rc<str>>> = RefCell::new(HashMap::new());
}

/// The resource of `query`: [`obfuscate_sql`] once per query text and
/// thread, then a lookup. An application runs the same few query texts over
/// and over (placeholders, not literals), and obfuscating one costs far more
/// than the rest of its span (about 25k instructions for the example's
/// `SELECT`). Keyed by the text itself, not its address: a query built at run
/// time may be freed and another one allocated in its place.
fn query_resource(query: &str) -> Rc<str> {
    if query.len() > RESOURCE_CACHE_MAX_QUERY {
        return Rc::from(obfuscate_sql(query).as_ref());
    }
    let cached = RESOURCES.try_with(|cache| {
        let mut cache = cache.try_borrow_mut().ok()?;
        if let Some(resource) = cache.get(query) {
            return Some(resource.clone());
        }
        // Queries with literals inlined are all different: start over
        // rather than grow without bound.
        if cache.len() >= RESOURCE_CACHE_ENTRIES {
            cache.clear();
        }
        let resource: Rc<str> = Rc::from(obfuscate_sql(query).as_ref());
        cache.insert(query.into(), resource.clone());
        Some(resource)
    });
    cached
        .ok()
        .flatten()
        .unwrap_or_else(|| Rc::from(obfuscate_sql(query).as_ref()))
}

/// `<db_system>.query`: a constant for the systems DataDog names, so that a
/// query span formats no `String`.
fn query_operation(db_system: &str) -> std::borrow::Cow<'static, str> {
    macro_rules! known {
        ($($system:literal),*) => {
            match db_system {
                $($system => std::borrow::Cow::Borrowed(concat!($system, ".query")),)*
                other => std::borrow::Cow::Owned(format!("{other}.query")),
            }
        };
    }
    known!(
        "sqlite",
        "postgresql",
        "mysql",
        "mariadb",
        "mssql",
        "oracle",
        "redis",
        "mongodb",
        "cassandra",
        "elasticsearch",
        "clickhouse"
    )
}

/// A span for a call to an external API, like the reference's
/// `trace_external_api('claude', '/v1/messages')`: DataDog type `http`,
/// resource `<target> <endpoint>`, tag `peer.service = <target>`.
///
/// Calls made with [`send_traced`](client::TracedRequest::send_traced)
/// inside this span are measured as `external_api.request.duration` and
/// (5xx answers, failed calls) `external_api.errors`, tagged
/// `api:<target>`, `endpoint:<endpoint>` and `status`.
///
/// ```no_run
/// # #[cfg(feature = "http-client")]
/// # async fn run(client: reqwest::Client) -> reqwest::Result<()> {
/// use tracing::Instrument;
/// use treebeard::apm::{client::TracedRequest, external_api};
///
/// let response = client
///     .post("https://api.anthropic.com/v1/messages")
///     .send_traced()
///     .instrument(external_api("claude", "/v1/messages"))
///     .await?;
/// # let _ = response; Ok(()) }
/// ```
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
    #[cfg(feature = "http-client")]
    span.with_subscriber(|(id, dispatch)| {
        if let Some(data) = dispatch
            .downcast_ref::<tracing_subscriber::Registry>()
            .and_then(|registry| tracing_subscriber::registry::LookupSpan::span(registry, id))
        {
            data.extensions_mut().insert(ExternalApi {
                api: target.into(),
                endpoint: endpoint.into(),
            });
        }
    });
    span
}

#[cfg(feature = "http-client")]
/// The target and endpoint of an [`external_api`] span, kept with the span
/// so calls inside it are tagged with them.
#[derive(Debug, Clone)]
pub(crate) struct ExternalApi {
    pub(crate) api: Box<str>,
    pub(crate) endpoint: Box<str>,
}

#[cfg(feature = "http-client")]
/// The [`external_api`] span `span` is in (itself or its nearest such
/// ancestor), if any.
pub(crate) fn external_api_of(span: &Span) -> Option<ExternalApi> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        tracing_subscriber::registry::LookupSpan::span(registry, id)?
            .scope()
            .find_map(|s| s.extensions().get::<ExternalApi>().cloned())
    })
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_resources_are_the_obfuscated_query() {
        let queries: Vec<String> = (0..RESOURCE_CACHE_ENTRIES * 2 + 3)
            .map(|i| format!("SELECT * FROM t{} WHERE id = {i} AND x = 'v{i}'", i % 5))
            .collect();
        // Twice over, past the cache's size: hits, misses and a reset.
        for query in queries.iter().chain(&queries) {
            assert_eq!(&*query_resource(query), obfuscate_sql(query));
        }
        let long = format!("SELECT '{}'", "x".repeat(RESOURCE_CACHE_MAX_QUERY));
        assert_eq!(&*query_resource(&long), "SELECT ?");
    }

    #[test]
    fn query_operation_names() {
        assert_eq!(query_operation("sqlite"), "sqlite.query");
        assert_eq!(query_operation("cockroachdb"), "cockroachdb.query");
    }
}
