//! The `datadog` style: `x-datadog-*` headers.

use std::fmt::Write as _;

use http::HeaderMap;

use super::context::*;

pub(super) const DD_TRACE_ID: &str = "x-datadog-trace-id";
pub(super) const DD_PARENT_ID: &str = "x-datadog-parent-id";
pub(super) const DD_PRIORITY: &str = "x-datadog-sampling-priority";
pub(super) const DD_ORIGIN: &str = "x-datadog-origin";
pub(super) const DD_TAGS: &str = "x-datadog-tags";

/// DataDog's tracers neither read nor write a longer `x-datadog-tags`.
pub(super) const MAX_DD_TAGS_LEN: usize = 512;

/// `x-datadog-*`: decimal IDs, the trace ID's high half in `_dd.p.tid`.
pub(super) fn extract_datadog(h: &HeaderMap) -> Option<SpanContext> {
    let low = parse_dec(header(h, DD_TRACE_ID)?).filter(|id| *id != 0)?;
    let span_id = parse_dec(header(h, DD_PARENT_ID)?).filter(|id| *id != 0)?;
    let tags = header(h, DD_TAGS).and_then(parse_dd_tags);
    let (high, tags) = tags.unwrap_or_default();
    let origin = header(h, DD_ORIGIN).filter(|o| is_visible(o));
    Some(SpanContext {
        trace_id: u128::from(high) << 64 | u128::from(low),
        span_id,
        priority: header(h, DD_PRIORITY).and_then(parse_priority),
        origin: origin.map(str::to_owned),
        tags,
        tracestate_others: None,
    })
}

/// Splits `x-datadog-tags` into the trace ID's high half and the other
/// `_dd.p.*` tags. None (the whole header ignored, as DataDog's tracers do)
/// when too long or malformed; a bad `_dd.p.tid` alone is ignored.
pub(super) fn parse_dd_tags(value: &str) -> Option<(u64, Vec<(String, String)>)> {
    if value.len() > MAX_DD_TAGS_LEN {
        return None;
    }
    let mut high = 0;
    let mut tags = Vec::new();
    for pair in value.split(',') {
        let (key, val) = pair.split_once('=').filter(|(k, v)| valid_dd_tag(k, v))?;
        if key == TID_TAG {
            high = parse_hex(val, 16, false).map_or(0, low_u64);
        } else if key.starts_with(TAG_PREFIX) {
            tags.push((key.to_owned(), val.to_owned()));
        }
    }
    Some((high, tags))
}

/// DataDog's `x-datadog-tags` characters: no ',' at all, no '=' in keys.
pub(super) fn valid_dd_tag(key: &str, value: &str) -> bool {
    let key_ok = |b: u8| b.is_ascii_graphic() && b != b',' && b != b'=';
    let value_ok = |b: u8| matches!(b, b' '..=b'~') && b != b',';
    !key.is_empty() && !value.is_empty() && key.bytes().all(key_ok) && value.bytes().all(value_ok)
}

pub(super) fn inject_datadog(cx: &SpanContext, h: &mut HeaderMap) {
    remove_all(h, &[DD_PRIORITY, DD_ORIGIN, DD_TAGS]);
    let mut num = itoa::Buffer::new();
    set(h, DD_TRACE_ID, num.format(low_u64(cx.trace_id)));
    set(h, DD_PARENT_ID, num.format(cx.span_id));
    if let Some(priority) = cx.priority {
        set(h, DD_PRIORITY, num.format(priority));
    }
    if let Some(origin) = cx.origin.as_deref().filter(|o| is_visible(o)) {
        set(h, DD_ORIGIN, origin);
    }
    let tags = dd_tags_value(cx);
    if !tags.is_empty() {
        set(h, DD_TAGS, tags);
    }
}

/// `_dd.p.tid` first (when the high half is set), then the valid tags that
/// fit in 512 bytes: receivers drop a longer header whole, tid included.
pub(super) fn dd_tags_value(cx: &SpanContext) -> String {
    let mut out = String::new();
    if high_u64(cx.trace_id) != 0 {
        let _ = write!(out, "{TID_TAG}={:016x}", high_u64(cx.trace_id));
    }
    for (key, value) in &cx.tags {
        if key == TID_TAG || !key.starts_with(TAG_PREFIX) || !valid_dd_tag(key, value) {
            continue;
        }
        let before = out.len();
        let comma = if before > 0 { "," } else { "" };
        let _ = write!(out, "{comma}{key}={value}");
        if out.len() > MAX_DD_TAGS_LEN {
            out.truncate(before);
        }
    }
    out
}
