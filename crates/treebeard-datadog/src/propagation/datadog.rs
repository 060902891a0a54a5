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

/// A tag DataDog's tracers never take from `x-datadog-tags`.
const REJECTED_TAG: &str = "_dd.p.upstream_services";

/// `x-datadog-*`: decimal IDs, the trace ID's high half in `_dd.p.tid`.
pub(super) fn extract_datadog(h: &HeaderMap) -> Option<SpanContext> {
    let low = parse_dec(header(h, DD_TRACE_ID)?).filter(|id| *id != 0)?;
    let span_id = parse_dec(header(h, DD_PARENT_ID)?).filter(|id| *id != 0)?;
    let tags = match h.get(DD_TAGS).map(|v| v.to_str()) {
        None => DdTags::default(),
        Some(Ok(value)) => parse_dd_tags(value),
        // Not printable ASCII: DataDog's tracers fail to decode it too.
        Some(Err(_)) => DdTags::error("decoding_error".to_owned()),
    };
    let origin = header(h, DD_ORIGIN).filter(|o| is_visible(o));
    Some(SpanContext {
        trace_id: u128::from(tags.high) << 64 | u128::from(low),
        span_id,
        priority: header(h, DD_PRIORITY).and_then(parse_priority),
        origin: origin.map(str::to_owned),
        tags: tags.tags,
        propagation_error: tags.error,
        ..SpanContext::default()
    })
}

/// What `x-datadog-tags` carries.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct DdTags {
    /// The trace ID's high half (`_dd.p.tid`), 0 when absent or malformed.
    pub(super) high: u64,
    /// The other `_dd.p.*` tags, in header order.
    pub(super) tags: Vec<(String, String)>,
    /// `_dd.propagation_error`, when the header was dropped or part of it.
    pub(super) error: Option<String>,
}

impl DdTags {
    fn error(error: String) -> Self {
        Self {
            error: Some(error),
            ..Self::default()
        }
    }
}

/// Splits `x-datadog-tags` as DataDog's tracers do: longer than 512 bytes,
/// the whole header is dropped (`extract_max_size`); malformed, too
/// (`decoding_error`); a malformed `_dd.p.tid` or `_dd.p.dm` alone is dropped
/// with an error tag; keys other than `_dd.p.*` are ignored.
pub(super) fn parse_dd_tags(value: &str) -> DdTags {
    if value.len() > MAX_DD_TAGS_LEN {
        return DdTags::error("extract_max_size".to_owned());
    }
    let Some(pairs) = decode_tagset(value) else {
        return DdTags::error("decoding_error".to_owned());
    };
    let mut out = DdTags::default();
    for (key, val) in pairs {
        if !key.starts_with(TAG_PREFIX) || key == REJECTED_TAG {
            continue;
        }
        if key == TID_TAG {
            match parse_hex(val, 16, true).map(low_u64).filter(|h| *h != 0) {
                Some(high) => out.high = high,
                None => out.error = Some(format!("malformed_tid {val}")),
            }
            continue;
        }
        if key == DM_TAG && !valid_mechanism(val) {
            out.tags.retain(|(k, _)| k != DM_TAG);
            out.error = Some("decoding_error".to_owned());
            continue;
        }
        match out.tags.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => val.clone_into(&mut slot.1),
            None => out.tags.push((key.to_owned(), val.to_owned())),
        }
    }
    out
}

/// DataDog's tagset grammar: `key=value` pairs joined by ',' (a trailing
/// ',' allowed), values trimmed of spaces; None when malformed.
fn decode_tagset(value: &str) -> Option<Vec<(&str, &str)>> {
    let mut pairs = Vec::new();
    let items: Vec<&str> = value.split(',').collect();
    for (i, pair) in items.iter().enumerate() {
        if pair.is_empty() && i + 1 == items.len() && i > 0 {
            break;
        }
        let (key, val) = pair.split_once('=')?;
        let val = val.trim_matches(' ');
        if !valid_dd_tag(key, val) {
            return None;
        }
        pairs.push((key, val));
    }
    Some(pairs)
}

/// `-0` to `-255`, DataDog's sampling mechanisms.
pub(super) fn valid_mechanism(value: &str) -> bool {
    let Some(digits) = value.strip_prefix('-') else {
        return false;
    };
    let canonical = digits == "0" || !digits.starts_with('0');
    canonical && digits.len() <= 3 && parse_dec(digits).is_some_and(|n| n <= 255)
}

/// DataDog's `x-datadog-tags` characters: no ',' at all, no '=' in keys.
pub(super) fn valid_dd_tag(key: &str, value: &str) -> bool {
    let key_ok = |b: u8| b.is_ascii_graphic() && b != b',' && b != b'=';
    let value_ok = |b: u8| matches!(b, b' '..=b'~') && b != b',';
    !key.is_empty() && !value.is_empty() && key.bytes().all(key_ok) && value.bytes().all(value_ok)
}

/// Writes `x-datadog-*`; returns `_dd.propagation_error` when the tags did
/// not fit in 512 bytes and `x-datadog-tags` was left out.
pub(super) fn inject_datadog(cx: &SpanContext, h: &mut HeaderMap) -> Option<&'static str> {
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
    // DataDog's tracers send no tags once propagating them failed.
    if cx.propagation_error.is_some() {
        return None;
    }
    match dd_tags_value(cx) {
        Some(tags) if !tags.is_empty() => set(h, DD_TAGS, tags),
        Some(_) => {}
        None => return Some("inject_max_size"),
    }
    None
}

/// `_dd.p.tid` first (when the high half is set), then the valid tags;
/// None when they exceed 512 bytes (receivers would drop them whole).
pub(super) fn dd_tags_value(cx: &SpanContext) -> Option<String> {
    let mut out = String::new();
    if high_u64(cx.trace_id) != 0 {
        let _ = write!(out, "{TID_TAG}={:016x}", high_u64(cx.trace_id));
    }
    for (key, value) in &cx.tags {
        if key == TID_TAG || !key.starts_with(TAG_PREFIX) || !valid_dd_tag(key, value) {
            continue;
        }
        let comma = if out.is_empty() { "" } else { "," };
        let _ = write!(out, "{comma}{key}={value}");
    }
    (out.len() <= MAX_DD_TAGS_LEN).then_some(out)
}
