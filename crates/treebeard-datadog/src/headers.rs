//! A cheap look at a request's headers, built without the `export`
//! feature too: whether trace extraction is worth running at all.

/// Whether `headers` may carry a trace context in any style (or baggage):
/// most requests carry none, and then extraction is skipped.
///
/// One pass over the names: a request has a handful of headers, and
/// comparing them is cheaper than hashing five custom names to look them up.
pub fn has_trace_headers(headers: &http::HeaderMap) -> bool {
    headers.keys().any(|name| {
        matches!(
            name.as_str(),
            "x-datadog-trace-id" | "traceparent" | "b3" | "x-b3-traceid" | "baggage"
        )
    })
}
