//! The DataDog concepts the tracer's settings name: propagation styles and
//! sampling rules. Built without the `export` feature too, so a
//! configuration layer can parse them without the tracer.

/// A trace-context header format (`DD_TRACE_PROPAGATION_STYLE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PropagationStyle {
    /// `x-datadog-trace-id`, `x-datadog-parent-id`, ...
    Datadog,
    /// W3C `traceparent` and `tracestate`.
    TraceContext,
    /// B3 single header (`b3`).
    B3,
    /// B3 multiple headers (`x-b3-traceid`, ...).
    B3Multi,
    /// W3C `baggage`: key-value items carried along with the trace
    /// (64 items, 8192 bytes at most, as DataDog's tracers).
    Baggage,
}

impl PropagationStyle {
    /// DataDog's default styles, for extraction and injection alike:
    /// `datadog,tracecontext,baggage`.
    pub const DEFAULT: [Self; 3] = [Self::Datadog, Self::TraceContext, Self::Baggage];
}

/// One trace sampling rule (`DD_TRACE_SAMPLING_RULES`), as DataDog's tracers
/// define it: the first rule whose patterns all match a trace's root span
/// sets the trace's sample rate.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SamplingRule {
    /// Share of matching traces kept, 0.0 to 1.0.
    pub sample_rate: f64,
    /// Glob pattern for the service.
    #[serde(default)]
    pub service: Option<String>,
    /// Glob pattern for the operation name.
    #[serde(default)]
    pub name: Option<String>,
    /// Glob pattern for the resource.
    #[serde(default)]
    pub resource: Option<String>,
    /// Tags that must match (values are glob patterns).
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
}
