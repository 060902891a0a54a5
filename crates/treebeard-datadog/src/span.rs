//! What a span is on the native path: a small record filled from the
//! `tracing` span's fields, and the trace it belongs to.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

pub(crate) use crate::fields::{Fields, Kind};
use crate::propagation::SpanContext;

/// One span, from creation to close. Lives in the `tracing` span's
/// extensions, then in its trace's finished list, then in the exporter's
/// queue: the request thread never formats or encodes it.
#[derive(Debug)]
pub(crate) struct SpanData {
    pub(crate) trace: Arc<Trace>,
    pub(crate) span_id: u64,
    /// 0 for a root that continues no trace.
    pub(crate) parent_id: u64,
    /// Whether this span is the first of its trace in this process.
    pub(crate) local_root: bool,
    /// `_top_level`: a local root, or a span of another service than its parent's.
    pub(crate) top_level: bool,
    /// Wall-clock start, nanoseconds since the Unix epoch.
    pub(crate) start_ns: i64,
    pub(crate) started: Instant,
    pub(crate) duration_ns: i64,
    /// The `tracing` span's name: the fallback operation and resource.
    pub(crate) span_name: &'static str,
    pub(crate) fields: Fields,
}

impl SpanData {
    /// The DataDog operation name: explicit, else derived like DataDog's
    /// OpenTelemetry mapping for HTTP spans, else the `tracing` span name.
    pub(crate) fn operation_bytes(&self) -> &[u8] {
        if let Some(op) = self.fields.operation() {
            return op;
        }
        match (self.fields.kind, self.fields.http_method().is_some()) {
            (Kind::Server, true) => b"http.server.request",
            (Kind::Client, true) => b"http.client.request",
            _ => self.span_name.as_bytes(),
        }
    }

    /// The resource, in parts to write back to back: explicit, else
    /// `<method> <route>` for HTTP server spans, else the operation.
    pub(crate) fn resource_bytes(&self) -> (&[u8], Option<&[u8]>) {
        if let Some(resource) = self.fields.resource() {
            return (resource, None);
        }
        if self.fields.kind == Kind::Server
            && let Some(method) = self.fields.http_method()
        {
            let route = self.fields.http_route().unwrap_or(b"unmatched");
            return (method, Some(route));
        }
        (self.operation_bytes(), None)
    }

    /// The span type: explicit, else `web` for servers, `http` for HTTP
    /// clients, else `custom`.
    pub(crate) fn span_type_bytes(&self) -> &[u8] {
        if let Some(t) = self.fields.span_type() {
            return t;
        }
        match (self.fields.kind, self.fields.http_method().is_some()) {
            (Kind::Server, _) => b"web",
            (Kind::Client, true) => b"http",
            _ => b"custom",
        }
    }

    /// The `service.name` of the span, when it names another service.
    pub(crate) fn service_bytes(&self) -> Option<&[u8]> {
        self.fields.service()
    }

    /// [`Self::operation_bytes`] as a `str`.
    pub(crate) fn operation(&self) -> &str {
        utf8(self.operation_bytes())
    }

    /// [`Self::resource_bytes`] as `str`s.
    pub(crate) fn resource(&self) -> (&str, Option<&str>) {
        let (whole, route) = self.resource_bytes();
        (utf8(whole), route.map(utf8))
    }

    /// [`Self::span_type_bytes`] as a `str`.
    #[cfg(test)]
    pub(crate) fn span_type(&self) -> &str {
        utf8(self.span_type_bytes())
    }

    /// [`Self::service_bytes`] as a `str`.
    pub(crate) fn service(&self) -> Option<&str> {
        self.service_bytes().map(utf8)
    }

    /// Every tag of the span's own fields.
    pub(crate) fn tags(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.fields.tag_strs()
    }
}

/// Field values are written from `str`s only: this never falls back.
fn utf8(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

/// A trace as this process sees it: its ID, where it came from, its
/// sampling decision, and its spans that have finished.
#[derive(Debug)]
pub(crate) struct Trace {
    pub(crate) id: u128,
    /// What the caller's headers said, for a continued trace.
    pub(crate) upstream: Option<Box<SpanContext>>,
    /// Decided once per trace: taken from upstream, or by the sampler
    /// when first needed (an outgoing call, or the root's end).
    pub(crate) sampling: OnceLock<Sampling>,
    /// `_dd.propagation_error` of a failed injection (`inject_max_size`).
    pub(crate) inject_error: OnceLock<&'static str>,
    /// Finished spans waiting for the local root to finish.
    pub(crate) finished: Mutex<Finished>,
}

/// The spans of a trace that have finished before its local root.
#[derive(Debug, Default)]
pub(crate) struct Finished {
    pub(crate) spans: Vec<SpanData>,
    /// Set when the local root has been sent: spans finishing later go alone.
    pub(crate) root_sent: bool,
}

impl Trace {
    pub(crate) fn new(id: u128, upstream: Option<Box<SpanContext>>) -> Self {
        Self {
            id,
            upstream,
            sampling: OnceLock::new(),
            inject_error: OnceLock::new(),
            finished: Mutex::new(Finished::default()),
        }
    }
}

/// A trace's sampling decision and the tags that explain it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sampling {
    pub(crate) priority: i8,
    /// `_dd.p.dm`, when this process made the decision to keep.
    pub(crate) mechanism: Option<&'static str>,
    /// This process's decision, when it made it: `_dd.p.ksr` (formatted when
    /// encoded, off the request thread), `_dd.rule_psr` or `_dd.agent_psr`, and
    /// `_dd.limit_psr`.
    pub(crate) decision: Option<crate::sampler::Decision>,
}

impl Sampling {
    /// A decision made upstream, carried by the headers.
    pub(crate) fn upstream(priority: i8) -> Self {
        Self {
            priority,
            mechanism: None,
            decision: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_record_stays_small_enough_to_move_around() {
        // It is moved into the registry, out of it, and into the export
        // queue (which holds up to 20,000): inline room has a price.
        let size = size_of::<SpanData>();
        assert!(size <= 800, "{size} bytes");
    }
}
