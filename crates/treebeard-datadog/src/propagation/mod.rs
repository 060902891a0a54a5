//! Trace-context propagation for the native DataDog span path: reads the
//! caller's context from incoming HTTP headers and writes ours into outgoing
//! ones, as DataDog's tracers (dd-trace-py 4, dd-trace-rs 0.6) do. Formats:
//! `datadog` (`x-datadog-*`), W3C `tracecontext` (`traceparent`, and
//! `tracestate` with a `dd=` member), `b3` (one `b3` header), `b3multi`
//! (`x-b3-*`) and W3C `baggage`.
//! Extraction never fails loudly: a malformed style is just skipped.

use http::HeaderMap;

use crate::config::PropagationStyle;

mod b3;
mod baggage;
mod context;
mod datadog;
#[cfg(test)]
mod differential;
#[cfg(test)]
mod tests;
mod tracecontext;

use b3::{B3, b3_value, extract_b3, extract_b3multi, inject_b3multi};
use baggage::{extract_baggage, inject_baggage};
use context::set;
pub(crate) use context::{SpanContext, SpanLink};
use datadog::{extract_datadog, inject_datadog};
use tracecontext::{extract_tracecontext, inject_tracecontext};

/// The style's name in DataDog's settings and span links.
fn style_name(style: PropagationStyle) -> &'static str {
    match style {
        PropagationStyle::Datadog => "datadog",
        PropagationStyle::TraceContext => "tracecontext",
        PropagationStyle::B3 => "b3",
        PropagationStyle::B3Multi => "b3multi",
        PropagationStyle::Baggage => "baggage",
    }
}

fn extract_style(headers: &HeaderMap, style: PropagationStyle) -> Option<SpanContext> {
    match style {
        PropagationStyle::Datadog => extract_datadog(headers),
        PropagationStyle::TraceContext => extract_tracecontext(headers),
        PropagationStyle::B3 => extract_b3(headers),
        PropagationStyle::B3Multi => extract_b3multi(headers),
        PropagationStyle::Baggage => None,
    }
}

/// Reads the context of `headers` as dd-trace-py does: the first style in
/// `styles` with a valid context wins (malformed headers of a style are
/// skipped, never a panic or an error); the others refine it:
/// - a W3C context of the same trace hands on its other vendors'
///   `tracestate` members and, when its parent differs, becomes the parent
///   (the DataDog parent, or tracestate `p:`, kept as `_dd.parent_id`);
/// - a context of another trace becomes a span link.
///
/// With `baggage` among `styles`, the `baggage` header's items come along;
/// baggage alone gives a context with trace ID 0 (a new trace that carries
/// it on). None when nothing was found.
pub(crate) fn extract(headers: &HeaderMap, styles: &[PropagationStyle]) -> Option<SpanContext> {
    let found: Vec<(PropagationStyle, SpanContext)> = styles
        .iter()
        .filter_map(|style| Some((*style, extract_style(headers, *style)?)))
        .collect();
    let mut primary = found
        .first()
        .map(|(_, first)| resolve(first.clone(), &found, headers));
    if styles.contains(&PropagationStyle::Baggage) {
        let baggage = extract_baggage(headers);
        if !baggage.is_empty() {
            primary.get_or_insert_with(SpanContext::default).baggage = baggage;
        }
    }
    primary
}

/// dd-trace-py's `_resolve_contexts`: what the other styles add to the first.
fn resolve(
    mut primary: SpanContext,
    found: &[(PropagationStyle, SpanContext)],
    headers: &HeaderMap,
) -> SpanContext {
    let dd_parent = found
        .iter()
        .find(|(style, _)| *style == PropagationStyle::Datadog)
        .map(|(_, cx)| cx.span_id);
    for (style, cx) in found.iter().skip(1) {
        if cx.trace_id != primary.trace_id {
            primary.links.push(SpanLink {
                trace_id: cx.trace_id,
                span_id: cx.span_id,
                flags: u8::from(cx.priority.is_some_and(|p| p > 0)),
                tracestate: (*style == PropagationStyle::TraceContext)
                    .then(|| tracecontext::received_tracestate(headers)),
                reason: "terminated_context",
                context_headers: style_name(*style),
            });
        } else if *style == PropagationStyle::TraceContext {
            if cx.tracestate_others.is_some() {
                primary.tracestate_others.clone_from(&cx.tracestate_others);
            }
            if primary.span_id != cx.span_id {
                primary.last_parent_id = cx.last_parent_id.or(dd_parent);
                primary.span_id = cx.span_id;
            }
        }
    }
    primary
}

/// The context an outgoing call made in span `span_id` carries: the
/// trace's priority, its decision maker (`_dd.p.dm`, unless upstream set
/// it), and what upstream sent on: origin, `_dd.p.*` tags, other vendors'
/// tracestate, baggage, and a propagation error (which stops
/// `x-datadog-tags`, as in DataDog's tracers).
pub(crate) fn outgoing(
    (trace_id, span_id, priority): (u128, u64, i8),
    mechanism: Option<&'static str>,
    upstream: Option<&SpanContext>,
    inject_error: Option<&'static str>,
) -> SpanContext {
    let mut tags = upstream.map(|u| u.tags.clone()).unwrap_or_default();
    if let Some(dm) = mechanism
        && !tags.iter().any(|(k, _)| k == context::DM_TAG)
    {
        tags.push((context::DM_TAG.to_owned(), dm.to_owned()));
    }
    let error = upstream.and_then(|u| u.propagation_error.clone());
    SpanContext {
        trace_id,
        span_id,
        priority: Some(priority),
        origin: upstream.and_then(|u| u.origin.clone()),
        tags,
        tracestate_others: upstream.and_then(|u| u.tracestate_others.clone()),
        propagation_error: error.or_else(|| inject_error.map(str::to_owned)),
        baggage: upstream.map(|u| u.baggage.clone()).unwrap_or_default(),
        ..SpanContext::default()
    }
}

/// Writes `cx` in every style of `styles` (replacing existing values of
/// those headers). Returns `_dd.propagation_error` when part of the context
/// could not be sent (`inject_max_size`: `x-datadog-tags` over 512 bytes).
pub(crate) fn inject(
    cx: &SpanContext,
    styles: &[PropagationStyle],
    headers: &mut HeaderMap,
) -> Option<&'static str> {
    // Baggage goes whether or not there is a trace to continue.
    if styles.contains(&PropagationStyle::Baggage) {
        inject_baggage(&cx.baggage, headers);
    }
    // A zero ID is no context: every receiver would reject it.
    if cx.trace_id == 0 || cx.span_id == 0 {
        return None;
    }
    let mut error = None;
    for style in styles {
        match style {
            PropagationStyle::Datadog => error = inject_datadog(cx, headers),
            PropagationStyle::TraceContext => inject_tracecontext(cx, headers),
            PropagationStyle::B3 => set(headers, B3, b3_value(cx)),
            PropagationStyle::B3Multi => inject_b3multi(cx, headers),
            PropagationStyle::Baggage => {}
        }
    }
    error
}
