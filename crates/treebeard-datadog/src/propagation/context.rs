//! The trace context headers carry, and the header and number helpers
//! every style shares.

use http::{HeaderMap, HeaderValue};

/// Prefix of the trace tags that travel with the context.
pub(super) const TAG_PREFIX: &str = "_dd.p.";

/// The tag carrying the high 64 bits of a 128-bit trace ID.
pub(super) const TID_TAG: &str = "_dd.p.tid";

/// The sampling mechanism tag.
pub(super) const DM_TAG: &str = "_dd.p.dm";

/// A trace context carried by headers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct SpanContext {
    /// The full 128-bit trace ID (never 0 when extracted).
    pub(crate) trace_id: u128,
    /// On extract: the caller's span (our parent). On inject: the span making the call.
    pub(crate) span_id: u64,
    /// Sampling priority (-1 user reject, 0 auto reject, 1 auto keep, 2 user keep), if the headers carried one.
    pub(crate) priority: Option<i8>,
    /// `x-datadog-origin` / tracestate `o:` (e.g. "rum", "synthetics").
    pub(crate) origin: Option<String>,
    /// Propagated `_dd.p.*` trace tags other than `_dd.p.tid` (which is derived from trace_id), in header order, e.g. ("_dd.p.dm", "-4").
    pub(crate) tags: Vec<(String, String)>,
    /// Other vendors' tracestate list members, verbatim, comma-joined (e.g. "foo=bar,rojo=00f0"), kept to pass on.
    pub(crate) tracestate_others: Option<String>,
    /// The last DataDog span upstream (`_dd.parent_id`): tracestate `p:`, or
    /// the `x-datadog-parent-id` that a W3C parent of the same trace replaced.
    pub(crate) last_parent_id: Option<u64>,
    /// `_dd.propagation_error` (e.g. "extract_max_size", "decoding_error"),
    /// set on the local root span; while set, `x-datadog-tags` is not sent.
    pub(crate) propagation_error: Option<String>,
    /// Contexts of other traces the headers also carried (span links).
    pub(crate) links: Vec<SpanLink>,
    /// W3C baggage items, in header order.
    pub(crate) baggage: Vec<(String, String)>,
}

/// A link from the local root span to a context of another trace (what
/// DataDog records when two header styles carry different trace IDs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpanLink {
    /// The other context's full trace ID.
    pub(crate) trace_id: u128,
    /// The other context's parent span.
    pub(crate) span_id: u64,
    /// 1 when the other context was sampled, else 0.
    pub(crate) flags: u8,
    /// The other context's `tracestate`, for a W3C context.
    pub(crate) tracestate: Option<String>,
    /// Why the link exists ("terminated_context").
    pub(crate) reason: &'static str,
    /// The header style of the other context ("tracecontext", "datadog", ...).
    pub(crate) context_headers: &'static str,
}

/// The first value of `name`, when it is printable ASCII.
pub(super) fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)?.to_str().ok()
}

/// Replaces `name`, skipping a value that is no valid header value.
pub(super) fn set<V>(h: &mut HeaderMap, name: &'static str, value: V)
where
    HeaderValue: TryFrom<V>,
{
    if let Ok(value) = HeaderValue::try_from(value) {
        h.insert(name, value);
    }
}

/// Drops optional headers, so no stale value outlives the new context.
pub(super) fn remove_all(h: &mut HeaderMap, names: &[&str]) {
    for name in names {
        h.remove(*name);
    }
}

/// Non-empty printable ASCII without spaces.
pub(super) fn is_visible(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
}

/// Decimal digits only: `str::parse` would also take a leading '+'.
pub(super) fn parse_dec(s: &str) -> Option<u64> {
    let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits { s.parse().ok() } else { None }
}

/// An optional '-' and decimal digits, within i8.
pub(super) fn parse_priority(s: &str) -> Option<i8> {
    parse_dec(s.strip_prefix('-').unwrap_or(s))?;
    s.parse().ok()
}

/// Exactly `len` (at most 32) hex digits; uppercase too unless `lower_only`.
pub(super) fn parse_hex(s: &str, len: usize, lower_only: bool) -> Option<u128> {
    if s.len() != len || len > 32 {
        return None;
    }
    s.bytes().try_fold(0u128, |acc, b| {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' if !lower_only => b - b'A' + 10,
            _ => return None,
        };
        Some(acc << 4 | u128::from(digit))
    })
}

/// The low 64 bits (the truncation is the point).
pub(super) fn low_u64(id: u128) -> u64 {
    id as u64
}

/// The high 64 bits.
pub(super) fn high_u64(id: u128) -> u64 {
    (id >> 64) as u64
}
