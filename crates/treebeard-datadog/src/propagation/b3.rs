//! The `b3` (one header) and `b3multi` (`x-b3-*`) styles.

use std::fmt::Write as _;

use http::HeaderMap;

use super::context::*;

pub(super) const B3: &str = "b3";
pub(super) const B3_TRACE_ID: &str = "x-b3-traceid";
pub(super) const B3_SPAN_ID: &str = "x-b3-spanid";
pub(super) const B3_SAMPLED: &str = "x-b3-sampled";
pub(super) const B3_FLAGS: &str = "x-b3-flags";

/// `{trace}-{span}[-{sampled}[-{parent}]]`; the sampling-only form (`0`,
/// `1`, `d`) has no trace to continue, so it yields None.
pub(super) fn extract_b3(h: &HeaderMap) -> Option<SpanContext> {
    let mut parts = header(h, B3)?.split('-');
    let trace_id = parse_b3_trace_id(parts.next()?)?;
    let span_id = parse_b3_span_id(parts.next()?)?;
    let priority = match parts.next() {
        Some(sampled) => Some(b3_priority(sampled)?),
        None => None,
    };
    if let Some(parent) = parts.next() {
        parse_hex(parent, 16, false)?;
    }
    let done = parts.next().is_none();
    done.then(|| b3_context(trace_id, span_id, priority))
}

/// `x-b3-traceid`, `x-b3-spanid`, then `x-b3-flags: 1` (debug) or `x-b3-sampled`.
pub(super) fn extract_b3multi(h: &HeaderMap) -> Option<SpanContext> {
    let trace_id = parse_b3_trace_id(header(h, B3_TRACE_ID)?)?;
    let span_id = parse_b3_span_id(header(h, B3_SPAN_ID)?)?;
    let priority = match (header(h, B3_FLAGS), header(h, B3_SAMPLED)) {
        (Some("1"), _) => Some(2),
        (_, sampled) => sampled.and_then(b3_priority).filter(|p| *p < 2),
    };
    Some(b3_context(trace_id, span_id, priority))
}

/// A context as B3 carries it: no origin, tags or tracestate.
pub(super) fn b3_context(trace_id: u128, span_id: u64, priority: Option<i8>) -> SpanContext {
    SpanContext {
        trace_id,
        span_id,
        priority,
        ..SpanContext::default()
    }
}

/// 16 or 32 hex digits, either case, not zero.
pub(super) fn parse_b3_trace_id(s: &str) -> Option<u128> {
    let len = if s.len() == 16 { 16 } else { 32 };
    parse_hex(s, len, false).filter(|id| *id != 0)
}

/// 16 hex digits, either case, not zero.
pub(super) fn parse_b3_span_id(s: &str) -> Option<u64> {
    parse_hex(s, 16, false).map(low_u64).filter(|id| *id != 0)
}

/// B3's sampling state: deny, accept, debug.
pub(super) fn b3_priority(sampled: &str) -> Option<i8> {
    match sampled {
        "0" => Some(0),
        "1" => Some(1),
        "d" => Some(2),
        _ => None,
    }
}

/// The B3 sampling state of a priority: user keep is debug.
pub(super) fn b3_sampled(priority: i8) -> &'static str {
    match priority {
        ..=0 => "0",
        1 => "1",
        _ => "d",
    }
}

/// The `b3` header, always with a 32-digit trace ID.
pub(super) fn b3_value(cx: &SpanContext) -> String {
    let mut b3 = format!("{:032x}-{:016x}", cx.trace_id, cx.span_id);
    if let Some(priority) = cx.priority {
        let _ = write!(b3, "-{}", b3_sampled(priority));
    }
    b3
}

pub(super) fn inject_b3multi(cx: &SpanContext, h: &mut HeaderMap) {
    remove_all(h, &[B3_SAMPLED, B3_FLAGS]);
    set(h, B3_TRACE_ID, format!("{:032x}", cx.trace_id));
    set(h, B3_SPAN_ID, format!("{:016x}", cx.span_id));
    match cx.priority {
        Some(2..) => set(h, B3_FLAGS, "1"),
        Some(priority) => set(h, B3_SAMPLED, b3_sampled(priority)),
        None => {}
    }
}
