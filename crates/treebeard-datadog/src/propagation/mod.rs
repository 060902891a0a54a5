//! Trace-context propagation for the native DataDog span path: reads the
//! caller's context from incoming HTTP headers and writes ours into outgoing
//! ones, as DataDog's tracers (dd-trace-rs 0.6) do. Formats: `datadog`
//! (`x-datadog-*`), W3C `tracecontext` (`traceparent`, and `tracestate` with a
//! `dd=` member), `b3` (one `b3` header) and `b3multi` (`x-b3-*`).
//! Extraction never fails loudly: a malformed style is just skipped.

use http::HeaderMap;

use crate::config::PropagationStyle;

mod b3;
mod context;
mod datadog;
#[cfg(test)]
mod tests;
mod tracecontext;

use b3::{B3, b3_value, extract_b3, extract_b3multi, inject_b3multi};
pub(crate) use context::SpanContext;
use context::set;
use datadog::{extract_datadog, inject_datadog};
use tracecontext::{extract_tracecontext, inject_tracecontext};

/// Reads the first valid context among `styles`, in order. Malformed headers of a style are skipped (never a panic, never an error); None when no style yields a valid context.
pub(crate) fn extract(headers: &HeaderMap, styles: &[PropagationStyle]) -> Option<SpanContext> {
    styles.iter().find_map(|style| match style {
        PropagationStyle::Datadog => extract_datadog(headers),
        PropagationStyle::TraceContext => extract_tracecontext(headers),
        PropagationStyle::B3 => extract_b3(headers),
        PropagationStyle::B3Multi => extract_b3multi(headers),
    })
}

/// Writes `cx` in every style of `styles` (replacing existing values of those headers).
pub(crate) fn inject(cx: &SpanContext, styles: &[PropagationStyle], headers: &mut HeaderMap) {
    // A zero ID is no context: every receiver would reject it.
    if cx.trace_id == 0 || cx.span_id == 0 {
        return;
    }
    for style in styles {
        match style {
            PropagationStyle::Datadog => inject_datadog(cx, headers),
            PropagationStyle::TraceContext => inject_tracecontext(cx, headers),
            PropagationStyle::B3 => set(headers, B3, b3_value(cx)),
            PropagationStyle::B3Multi => inject_b3multi(cx, headers),
        }
    }
}
