//! What a span is on the native path: a small record filled from the
//! `tracing` span's fields, and the trace it belongs to.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use tracing::field::{Field, Visit};

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

/// The span fields DataDog gives a meaning to, and the rest as tags.
///
/// Every text value lives in one buffer per span, so a request span costs
/// one allocation for its values rather than one per field.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    text: String,
    /// `operation.name`, else `otel.name`.
    operation: Option<Slot>,
    /// `resource.name`.
    resource: Option<Slot>,
    /// `service.name`: another service than the process's.
    service: Option<Slot>,
    /// `span.type`.
    span_type: Option<Slot>,
    /// `otel.kind`.
    pub(crate) kind: Kind,
    /// `otel.status_code = "error"`.
    pub(crate) error: bool,
    /// Every other field with a value: `meta` strings.
    meta: Vec<(&'static str, Slot)>,
    /// Numeric fields: `metrics`.
    pub(crate) metrics: Vec<(&'static str, f64)>,
}

/// Where a value sits in [`Fields::text`].
#[derive(Debug, Clone, Copy)]
struct Slot {
    start: u32,
    end: u32,
}

/// `otel.kind`, as DataDog's `span.kind` tag.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Kind {
    Server,
    Client,
    Producer,
    Consumer,
    #[default]
    Internal,
}

impl Kind {
    fn parse(value: &str) -> Self {
        // Without lowercasing a copy: this runs for every span.
        [Self::Server, Self::Client, Self::Producer, Self::Consumer]
            .into_iter()
            .find(|kind| value.eq_ignore_ascii_case(kind.as_str()))
            .unwrap_or(Self::Internal)
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Client => "client",
            Self::Producer => "producer",
            Self::Consumer => "consumer",
            Self::Internal => "internal",
        }
    }

    /// DataDog computes stats for these even when not top-level (`_dd.measured`).
    pub(crate) fn measured(self) -> bool {
        matches!(self, Self::Client | Self::Producer | Self::Consumer)
    }
}

impl SpanData {
    /// The DataDog operation name: explicit, else derived like DataDog's
    /// OpenTelemetry mapping for HTTP spans, else the `tracing` span name.
    pub(crate) fn operation(&self) -> &str {
        if let Some(op) = self.fields.get(self.fields.operation) {
            return op;
        }
        match (self.fields.kind, self.meta("http.method").is_some()) {
            (Kind::Server, true) => "http.server.request",
            (Kind::Client, true) => "http.client.request",
            _ => self.span_name,
        }
    }

    /// The resource, in parts to write back to back: explicit, else
    /// `<method> <route>` for HTTP server spans, else the operation.
    pub(crate) fn resource(&self) -> (&str, Option<&str>) {
        if let Some(resource) = self.fields.get(self.fields.resource) {
            return (resource, None);
        }
        if self.fields.kind == Kind::Server
            && let Some(method) = self.meta("http.method")
        {
            let route = self.meta("http.route").unwrap_or("unmatched");
            return (method, Some(route));
        }
        (self.operation(), None)
    }

    /// The span type: explicit, else `web` for servers, `http` for HTTP
    /// clients, else `custom`.
    pub(crate) fn span_type(&self) -> &str {
        if let Some(t) = self.fields.get(self.fields.span_type) {
            return t;
        }
        match (self.fields.kind, self.meta("http.method").is_some()) {
            (Kind::Server, _) => "web",
            (Kind::Client, true) => "http",
            _ => "custom",
        }
    }

    /// The `service.name` of the span, when it names another service.
    pub(crate) fn service(&self) -> Option<&str> {
        self.fields.get(self.fields.service)
    }

    /// The value of tag `key`, if the span has one.
    pub(crate) fn meta(&self, key: &str) -> Option<&str> {
        self.fields
            .meta
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, slot)| self.fields.get(Some(*slot)))
    }

    /// Every tag of the span's own fields.
    pub(crate) fn tags(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.fields
            .meta
            .iter()
            .map(|(k, slot)| (*k, self.fields.get(Some(*slot)).unwrap_or_default()))
    }
}

impl Fields {
    /// Room for the values of a span with `fields` fields.
    pub(crate) fn with_capacity(fields: usize) -> Self {
        Self {
            text: String::with_capacity(fields * 24),
            meta: Vec::with_capacity(fields),
            ..Self::default()
        }
    }

    fn get(&self, slot: Option<Slot>) -> Option<&str> {
        let slot = slot?;
        self.text.get(slot.start as usize..slot.end as usize)
    }

    /// Appends `value` to the buffer. A value that would not fit the
    /// buffer's u32 offsets is dropped: no span field is 4 GiB.
    fn store(&mut self, value: &str) -> Option<Slot> {
        let start = u32::try_from(self.text.len()).ok()?;
        let end = u32::try_from(self.text.len() + value.len()).ok()?;
        self.text.push_str(value);
        Some(Slot { start, end })
    }

    pub(crate) fn set(&mut self, name: &'static str, value: &str) {
        match name {
            "operation.name" => self.operation = self.store(value),
            "otel.name" => {
                if self.operation.is_none() {
                    self.operation = self.store(value);
                }
            }
            "resource.name" => self.resource = self.store(value),
            "service.name" => self.service = self.store(value),
            "span.type" => self.span_type = self.store(value),
            "otel.kind" => self.kind = Kind::parse(value),
            "otel.status_code" => self.error = value.eq_ignore_ascii_case("error"),
            _ => {
                if let Some(slot) = self.store(value) {
                    self.set_meta(name, slot);
                }
            }
        }
    }

    fn set_meta(&mut self, name: &'static str, slot: Slot) {
        // A field recorded twice keeps its last value. Names are the
        // span's own `&'static str`s, so the address says which field.
        let same = |k: &&str| k.as_ptr() == name.as_ptr() && k.len() == name.len();
        match self.meta.iter_mut().find(|(k, _)| same(k)) {
            Some((_, old)) => *old = slot,
            None => self.meta.push((name, slot)),
        }
    }

    fn set_metric(&mut self, name: &'static str, value: f64) {
        match self.metrics.iter_mut().find(|(k, _)| *k == name) {
            Some((_, v)) => *v = value,
            None => self.metrics.push((name, value)),
        }
    }

    /// Whether this span names the same service as `other` (both may
    /// leave it to the process's).
    pub(crate) fn same_service(&self, other: &Fields) -> bool {
        self.get(self.service) == other.get(other.service)
    }
}

/// The fields [`Fields::set`] gives a meaning to, rather than keeping as tags.
fn is_special(name: &str) -> bool {
    matches!(
        name,
        "operation.name"
            | "otel.name"
            | "resource.name"
            | "service.name"
            | "span.type"
            | "otel.kind"
            | "otel.status_code"
    )
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field.name(), if value { "true" } else { "false" });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set_metric(field.name(), value as f64);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set_metric(field.name(), value as f64);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set_metric(field.name(), value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.set(field.name(), &value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let name = field.name();
        if is_special(name) {
            return self.set(name, &format!("{value:?}"));
        }
        // A tag: formatted straight into the buffer, no `String` of its own.
        let start = self.text.len();
        let _ = std::fmt::Write::write_fmt(&mut self.text, format_args!("{value:?}"));
        if let (Ok(start), Ok(end)) = (u32::try_from(start), u32::try_from(self.text.len())) {
            self.set_meta(name, Slot { start, end });
        }
    }
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
