//! The trace context every part shares: the IDs of a traced span, and the
//! tracer [`init`](crate::init()) installed, if any.
//!
//! Layers, the log formatter, Sentry and the APM helpers ask this module
//! for trace IDs and propagation; the tracer backends (DataDog native,
//! OpenTelemetry) answer through the [`Tracer`] trait. So nothing that
//! reads a trace ID knows which tracer made it, and no backend is imported
//! by the parts that use it.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::Span;
use tracing_subscriber::registry::{Extensions, LookupSpan as _};

/// Spans at this level or above are traced whatever `RUST_LOG` says.
pub(crate) const SPAN_LEVEL: tracing::Level = tracing::Level::INFO;

/// A traced span's IDs: all 128 bits of the trace ID (DataDog's
/// `trace_id` and the logs' `dd.trace_id` are its low 64 bits) and the
/// span ID. The request layer puts the request span's IDs in the request's
/// extensions, so inner layers (error capture) need no registry trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceIds {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
}

impl TraceIds {
    /// The low 64 bits of the trace ID, as DataDog shows them.
    pub(crate) fn datadog_trace_id(self) -> u64 {
        self.trace_id as u64
    }
}

/// What a tracer backend does for the rest of the crate.
pub(crate) trait Tracer: Send + Sync + 'static {
    /// Continues the trace of the incoming `headers` in `span` (a server
    /// span not yet entered), and returns the span's IDs. Headers that do
    /// not parse start a new trace: never an error.
    fn continue_trace(&self, span: &Span, headers: &http::HeaderMap) -> Option<TraceIds>;

    /// Writes `span`'s trace context into outgoing `headers`.
    fn inject(&self, span: &Span, headers: &mut http::HeaderMap);

    /// The IDs this tracer keeps in a span's registry `extensions`.
    fn ids_in(&self, extensions: &Extensions<'_>) -> Option<TraceIds>;

    /// Makes a span's IDs readable by [`ids_in`](Tracer::ids_in) when the
    /// tracer does not keep them there as it makes the span.
    fn attach_ids(&self, _span: &Span) {}

    /// Tags `span` with a name known only at run time (a header tag).
    fn set_tag(&self, span: &Span, key: &'static str, value: &str);
}

static TRACER: OnceLock<Box<dyn Tracer>> = OnceLock::new();
/// Cleared when the tracer shuts down: no propagation work after it.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Installs the process's tracer (once: [`init`](crate::init()) is once per
/// process). Returns false if one was installed before.
#[cfg_attr(
    not(any(feature = "datadog", feature = "tracing-otel")),
    allow(dead_code)
)]
pub(crate) fn install(tracer: Box<dyn Tracer>) -> bool {
    let installed = TRACER.set(tracer).is_ok();
    ACTIVE.store(installed, Ordering::Relaxed);
    installed
}

/// Stops propagation and ID lookups: the tracer has shut down.
#[cfg_attr(
    not(any(feature = "datadog", feature = "tracing-otel")),
    allow(dead_code)
)]
pub(crate) fn deactivate() {
    ACTIVE.store(false, Ordering::Relaxed);
}

/// Whether spans are being exported.
pub(crate) fn is_active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// The active tracer.
pub(crate) fn tracer() -> Option<&'static dyn Tracer> {
    if is_active() {
        TRACER.get().map(Box::as_ref)
    } else {
        None
    }
}

/// The IDs of the innermost traced span of `span`'s scope (`span` itself,
/// else its nearest traced ancestor).
pub(crate) fn trace_ids_of(span: &Span) -> Option<TraceIds> {
    let tracer = tracer()?;
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        registry
            .span(id)?
            .scope()
            .find_map(|s| tracer.ids_in(&s.extensions()))
    })
    .flatten()
}
