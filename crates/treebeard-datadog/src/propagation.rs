//! Trace-context propagation for the native DataDog span path: reads the
//! caller's context from incoming HTTP headers and writes ours into outgoing
//! ones, as DataDog's tracers (dd-trace-rs 0.6) do. Formats: `datadog`
//! (`x-datadog-*`), W3C `tracecontext` (`traceparent`, and `tracestate` with a
//! `dd=` member), `b3` (one `b3` header) and `b3multi` (`x-b3-*`).
//! Extraction never fails loudly: a malformed style is just skipped.

use std::borrow::Cow;
use std::fmt::Write as _;

use http::{HeaderMap, HeaderValue};

use crate::config::PropagationStyle;

const DD_TRACE_ID: &str = "x-datadog-trace-id";
const DD_PARENT_ID: &str = "x-datadog-parent-id";
const DD_PRIORITY: &str = "x-datadog-sampling-priority";
const DD_ORIGIN: &str = "x-datadog-origin";
const DD_TAGS: &str = "x-datadog-tags";
const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";
const B3: &str = "b3";
const B3_TRACE_ID: &str = "x-b3-traceid";
const B3_SPAN_ID: &str = "x-b3-spanid";
const B3_SAMPLED: &str = "x-b3-sampled";
const B3_FLAGS: &str = "x-b3-flags";

/// Prefix of the trace tags that travel with the context.
const TAG_PREFIX: &str = "_dd.p.";
/// The tag carrying the high 64 bits of a 128-bit trace ID.
const TID_TAG: &str = "_dd.p.tid";
/// DataDog's tracers neither read nor write a longer `x-datadog-tags`.
const MAX_DD_TAGS_LEN: usize = 512;
/// W3C's limit on `tracestate` list members.
const MAX_MEMBERS: usize = 32;
/// Room for `;t.*` tags in the `dd=` member (dd-trace-rs: half of 256).
const MAX_TS_TAGS_LEN: usize = 128;
/// Longest origin put in `tracestate`, so that the `dd=` value stays within
/// W3C's 256 bytes (s ≤ 6, p = 19, tags ≤ 128).
const MAX_TS_ORIGIN_LEN: usize = 100;

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
}

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

// ---- datadog ----

/// `x-datadog-*`: decimal IDs, the trace ID's high half in `_dd.p.tid`.
fn extract_datadog(h: &HeaderMap) -> Option<SpanContext> {
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
fn parse_dd_tags(value: &str) -> Option<(u64, Vec<(String, String)>)> {
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
fn valid_dd_tag(key: &str, value: &str) -> bool {
    let key_ok = |b: u8| b.is_ascii_graphic() && b != b',' && b != b'=';
    let value_ok = |b: u8| matches!(b, b' '..=b'~') && b != b',';
    !key.is_empty() && !value.is_empty() && key.bytes().all(key_ok) && value.bytes().all(value_ok)
}

fn inject_datadog(cx: &SpanContext, h: &mut HeaderMap) {
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
fn dd_tags_value(cx: &SpanContext) -> String {
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

// ---- tracecontext ----

/// W3C `traceparent`, plus what `tracestate` carries when it parses.
fn extract_tracecontext(h: &HeaderMap) -> Option<SpanContext> {
    let mut values = h.get_all(TRACEPARENT).iter();
    let traceparent = values.next()?.to_str().ok()?.trim_matches([' ', '\t']);
    // Several traceparents contradict each other (W3C: invalid).
    if values.next().is_some() {
        return None;
    }
    let (trace_id, span_id, sampled) = parse_traceparent(traceparent)?;
    let state = joined_tracestate(h).and_then(|raw| parse_tracestate(&raw));
    let state = state.unwrap_or_default();
    // The dd member's priority counts only when it agrees with the flag.
    let priority = match state.priority {
        Some(s) if (s > 0) == sampled => s,
        _ => i8::from(sampled),
    };
    Some(SpanContext {
        trace_id,
        span_id,
        priority: Some(priority),
        origin: state.origin,
        tags: state.tags,
        tracestate_others: Some(state.others).filter(|o| !o.is_empty()),
    })
}

/// `version-traceid-parentid-flags` in lowercase hex: (trace, span, sampled).
fn parse_traceparent(tp: &str) -> Option<(u128, u64, bool)> {
    let sized = match tp.get(..2)? {
        "00" => tp.len() == 55,
        "ff" => false,
        // Later versions may append fields after a '-' (W3C).
        _ => tp.len() == 55 || tp.get(55..56) == Some("-"),
    };
    // With the exact widths below, the four fields fill all 55 bytes.
    let mut parts = tp.get(..55).filter(|_| sized)?.split('-');
    parse_hex(parts.next()?, 2, true)?;
    let trace_id = parse_hex(parts.next()?, 32, true)?;
    let span_id = low_u64(parse_hex(parts.next()?, 16, true)?);
    let flags = parse_hex(parts.next()?, 2, true)?;
    (trace_id != 0 && span_id != 0).then_some((trace_id, span_id, flags & 1 == 1))
}

/// All `tracestate` headers as one list (W3C lets senders split it).
fn joined_tracestate(h: &HeaderMap) -> Option<Cow<'_, str>> {
    let mut values = h.get_all(TRACESTATE).iter();
    let mut joined = Cow::Borrowed(values.next()?.to_str().ok()?);
    for value in values {
        let list = joined.to_mut();
        list.push(',');
        list.push_str(value.to_str().ok()?);
    }
    Some(joined)
}

/// What `tracestate` carries for us, and the other vendors' members.
#[derive(Default)]
struct TraceState {
    priority: Option<i8>,
    origin: Option<String>,
    tags: Vec<(String, String)>,
    others: String,
}

/// Reads the first 32 members (as DataDog does); None when one is invalid.
fn parse_tracestate(raw: &str) -> Option<TraceState> {
    let mut state = TraceState::default();
    let mut seen_dd = false;
    let members = raw.split(',').map(|m| m.trim_matches([' ', '\t']));
    for member in members.filter(|m| !m.is_empty()).take(MAX_MEMBERS) {
        let (key, value) = member.split_once('=')?;
        if !valid_ts_key(key) || !valid_ts_value(value) {
            return None;
        }
        if key != "dd" {
            let comma = if state.others.is_empty() { "" } else { "," };
            let _ = write!(state.others, "{comma}{member}");
        } else if !seen_dd {
            seen_dd = true;
            parse_dd_member(value, &mut state);
        }
    }
    Some(state)
}

/// `s:<priority>;o:<origin>;p:<span>;t.<tag>:<value>`, '~' standing for '='.
fn parse_dd_member(value: &str, state: &mut TraceState) {
    for (key, val) in value.split(';').filter_map(|item| item.split_once(':')) {
        let val = val.replace('~', "=");
        match key {
            "s" => state.priority = parse_priority(&val),
            "o" => state.origin = Some(val),
            // The traceparent already holds all 128 bits.
            "t.tid" => {}
            _ => {
                if let Some(name) = key.strip_prefix("t.").filter(|name| !name.is_empty()) {
                    state.tags.push((format!("{TAG_PREFIX}{name}"), val));
                }
            }
        }
    }
}

/// W3C key: lowercase letters, digits and `_-*/`, one `@` for multi-tenant
/// keys; a leading digit is allowed, as DataDog and OpenTelemetry accept.
fn valid_ts_key(key: &str) -> bool {
    let ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/@".contains(&b);
    let starts_ok = key
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() && ok(b));
    starts_ok && key.len() <= 256 && key.bytes().all(ok) && key.matches('@').count() <= 1
}

/// W3C value: 1 to 256 printable ASCII characters other than ',' and '='.
fn valid_ts_value(value: &str) -> bool {
    let ok = |b: u8| matches!(b, b' '..=b'~') && b != b',' && b != b'=';
    (1..=256).contains(&value.len()) && value.bytes().all(ok)
}

fn inject_tracecontext(cx: &SpanContext, h: &mut HeaderMap) {
    let flags = if cx.priority.is_some_and(|p| p > 0) {
        "01"
    } else {
        "00"
    };
    let traceparent = format!("00-{:032x}-{:016x}-{flags}", cx.trace_id, cx.span_id);
    set(h, TRACEPARENT, traceparent);
    set(h, TRACESTATE, tracestate_value(cx));
}

/// `dd=s:2;o:rum;p:<span>;t.dm:-3;t.tid:<high>`, then the other vendors'
/// members, 32 members at most.
fn tracestate_value(cx: &SpanContext) -> String {
    let mut out = String::from("dd=");
    if let Some(priority) = cx.priority {
        let _ = write!(out, "s:{priority}");
    }
    if let Some(origin) = cx
        .origin
        .as_deref()
        .filter(|o| o.len() <= MAX_TS_ORIGIN_LEN)
    {
        push_dd_field(&mut out, "o:");
        push_ts_value(&mut out, origin);
    }
    push_dd_field(&mut out, "p:");
    let _ = write!(out, "{:016x}", cx.span_id);
    let high = high_u64(cx.trace_id);
    // Keep room for tid: losing it would cut the trace ID to 64 bits.
    let tags_end = out.len() + MAX_TS_TAGS_LEN - if high != 0 { 23 } else { 0 };
    for (key, value) in cx.tags.iter().filter(|(key, _)| key != TID_TAG) {
        let Some(name) = key.strip_prefix(TAG_PREFIX) else {
            continue;
        };
        let before = out.len();
        push_dd_field(&mut out, "t.");
        out.extend(name.chars().map(ts_key_char));
        out.push(':');
        push_ts_value(&mut out, value);
        if out.len() > tags_end {
            out.truncate(before);
            break;
        }
    }
    if high != 0 {
        let _ = write!(out, ";t.tid:{high:016x}");
    }
    let others = cx
        .tracestate_others
        .as_deref()
        .unwrap_or_default()
        .split(',');
    let valid = |m: &&str| {
        let pair = m.split_once('=');
        pair.is_some_and(|(k, v)| k != "dd" && valid_ts_key(k) && valid_ts_value(v))
    };
    for member in others.map(str::trim).filter(valid).take(MAX_MEMBERS - 1) {
        let _ = write!(out, ",{member}");
    }
    out
}

/// Starts a `dd=` field, after a ';' unless it is the first.
fn push_dd_field(out: &mut String, key: &str) {
    if !out.ends_with('=') {
        out.push(';');
    }
    out.push_str(key);
}

/// DataDog's tracestate key rule, plus ';' and ':', which would split the field.
fn ts_key_char(c: char) -> char {
    match c {
        ',' | '=' | ';' | ':' => '_',
        '!'..='~' => c,
        _ => '_',
    }
}

/// DataDog's tracestate value rule: ',' ';' '~' and non-printables become
/// '_', and '=' (not allowed in tracestate values) is written '~'.
fn push_ts_value(out: &mut String, value: &str) {
    out.extend(value.chars().map(|c| match c {
        '=' => '~',
        ',' | ';' | '~' => '_',
        ' '..='~' => c,
        _ => '_',
    }));
}

// ---- b3 ----

/// `{trace}-{span}[-{sampled}[-{parent}]]`; the sampling-only form (`0`,
/// `1`, `d`) has no trace to continue, so it yields None.
fn extract_b3(h: &HeaderMap) -> Option<SpanContext> {
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
fn extract_b3multi(h: &HeaderMap) -> Option<SpanContext> {
    let trace_id = parse_b3_trace_id(header(h, B3_TRACE_ID)?)?;
    let span_id = parse_b3_span_id(header(h, B3_SPAN_ID)?)?;
    let priority = match (header(h, B3_FLAGS), header(h, B3_SAMPLED)) {
        (Some("1"), _) => Some(2),
        (_, sampled) => sampled.and_then(b3_priority).filter(|p| *p < 2),
    };
    Some(b3_context(trace_id, span_id, priority))
}

/// A context as B3 carries it: no origin, tags or tracestate.
fn b3_context(trace_id: u128, span_id: u64, priority: Option<i8>) -> SpanContext {
    SpanContext {
        trace_id,
        span_id,
        priority,
        ..SpanContext::default()
    }
}

/// 16 or 32 hex digits, either case, not zero.
fn parse_b3_trace_id(s: &str) -> Option<u128> {
    let len = if s.len() == 16 { 16 } else { 32 };
    parse_hex(s, len, false).filter(|id| *id != 0)
}

/// 16 hex digits, either case, not zero.
fn parse_b3_span_id(s: &str) -> Option<u64> {
    parse_hex(s, 16, false).map(low_u64).filter(|id| *id != 0)
}

/// B3's sampling state: deny, accept, debug.
fn b3_priority(sampled: &str) -> Option<i8> {
    match sampled {
        "0" => Some(0),
        "1" => Some(1),
        "d" => Some(2),
        _ => None,
    }
}

/// The B3 sampling state of a priority: user keep is debug.
fn b3_sampled(priority: i8) -> &'static str {
    match priority {
        ..=0 => "0",
        1 => "1",
        _ => "d",
    }
}

/// The `b3` header, always with a 32-digit trace ID.
fn b3_value(cx: &SpanContext) -> String {
    let mut b3 = format!("{:032x}-{:016x}", cx.trace_id, cx.span_id);
    if let Some(priority) = cx.priority {
        let _ = write!(b3, "-{}", b3_sampled(priority));
    }
    b3
}

fn inject_b3multi(cx: &SpanContext, h: &mut HeaderMap) {
    remove_all(h, &[B3_SAMPLED, B3_FLAGS]);
    set(h, B3_TRACE_ID, format!("{:032x}", cx.trace_id));
    set(h, B3_SPAN_ID, format!("{:016x}", cx.span_id));
    match cx.priority {
        Some(2..) => set(h, B3_FLAGS, "1"),
        Some(priority) => set(h, B3_SAMPLED, b3_sampled(priority)),
        None => {}
    }
}

// ---- helpers ----

/// The first value of `name`, when it is printable ASCII.
fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)?.to_str().ok()
}

/// Replaces `name`, skipping a value that is no valid header value.
fn set<V>(h: &mut HeaderMap, name: &'static str, value: V)
where
    HeaderValue: TryFrom<V>,
{
    if let Ok(value) = HeaderValue::try_from(value) {
        h.insert(name, value);
    }
}

/// Drops optional headers, so no stale value outlives the new context.
fn remove_all(h: &mut HeaderMap, names: &[&str]) {
    for name in names {
        h.remove(*name);
    }
}

/// Non-empty printable ASCII without spaces.
fn is_visible(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
}

/// Decimal digits only: `str::parse` would also take a leading '+'.
fn parse_dec(s: &str) -> Option<u64> {
    let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits { s.parse().ok() } else { None }
}

/// An optional '-' and decimal digits, within i8.
fn parse_priority(s: &str) -> Option<i8> {
    parse_dec(s.strip_prefix('-').unwrap_or(s))?;
    s.parse().ok()
}

/// Exactly `len` (at most 32) hex digits; uppercase too unless `lower_only`.
fn parse_hex(s: &str, len: usize, lower_only: bool) -> Option<u128> {
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
fn low_u64(id: u128) -> u64 {
    id as u64
}

/// The high 64 bits.
fn high_u64(id: u128) -> u64 {
    (id >> 64) as u64
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use PropagationStyle::{B3 as B3S, B3Multi, Datadog, TraceContext};

    const ALL: [PropagationStyle; 4] = [Datadog, TraceContext, B3S, B3Multi];
    const TRACE: u128 = 0x6b09_27b5_0000_0000_e47d_c41c_6512_ccc3;
    const SPAN: u64 = 0x1280_3a1c_e0d4_d5b2;
    // The example context as dd-trace-rs 0.6 writes it.
    const EX_TAGS: &str = "_dd.p.tid=6b0927b500000000,_dd.p.dm=-3";
    const EX_TP: &str = "00-6b0927b500000000e47dc41c6512ccc3-12803a1ce0d4d5b2-01";
    const EX_TS: &str = "dd=s:2;o:rum;p:12803a1ce0d4d5b2;t.dm:-3;t.tid:6b0927b500000000,foo=bar";
    const EX_B3: &str = "6b0927b500000000e47dc41c6512ccc3-12803a1ce0d4d5b2-d";
    /// A valid traceparent: trace 10, span 11, sampled.
    const TP: &str = "00-0000000000000000000000000000000a-000000000000000b-01";

    fn example() -> SpanContext {
        SpanContext {
            trace_id: TRACE,
            span_id: SPAN,
            priority: Some(2),
            origin: Some("rum".into()),
            tags: vec![("_dd.p.dm".into(), "-3".into())],
            tracestate_others: Some("foo=bar".into()),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_bytes(value.as_bytes()).unwrap());
        }
        h
    }

    fn get<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
        h.get(name).map(|v| v.to_str().unwrap())
    }

    fn injected(cx: &SpanContext, style: PropagationStyle) -> HeaderMap {
        let mut h = HeaderMap::new();
        inject(cx, &[style], &mut h);
        h
    }

    fn one(style: PropagationStyle, pairs: &[(&'static str, &str)]) -> Option<SpanContext> {
        extract(&headers(pairs), &[style])
    }

    /// What of `cx` survives a trip through `style`.
    fn carried(cx: &SpanContext, style: PropagationStyle) -> SpanContext {
        let cx = cx.clone();
        match style {
            Datadog => SpanContext {
                tracestate_others: None,
                ..cx
            },
            TraceContext => SpanContext {
                priority: Some(cx.priority.unwrap_or(0)),
                ..cx
            },
            _ => b3_context(cx.trace_id, cx.span_id, cx.priority.map(|p| p.max(0))),
        }
    }

    #[test]
    fn injects_the_captured_headers() {
        let h = injected(&example(), Datadog);
        let dd = [DD_TRACE_ID, DD_PARENT_ID, DD_PRIORITY, DD_ORIGIN, DD_TAGS].map(|n| get(&h, n));
        let want = ["16464531438970260675", "1333129385407206834", "2", "rum"];
        assert_eq!((&dd[..4], dd[4]), (&want.map(Some)[..], Some(EX_TAGS)));
        let h = injected(&example(), TraceContext);
        assert_eq!(
            [TRACEPARENT, TRACESTATE].map(|n| get(&h, n)),
            [Some(EX_TP), Some(EX_TS)]
        );
        assert_eq!(get(&injected(&example(), B3S), B3), Some(EX_B3));
        let h = injected(&example(), B3Multi);
        let multi = [B3_TRACE_ID, B3_SPAN_ID, B3_FLAGS, B3_SAMPLED].map(|n| get(&h, n));
        let ids = ["6b0927b500000000e47dc41c6512ccc3", "12803a1ce0d4d5b2"].map(Some);
        assert_eq!(multi, [ids[0], ids[1], Some("1"), None]);
    }

    #[test]
    fn extracts_the_captured_headers() {
        let ids = [
            (DD_TRACE_ID, "16464531438970260675"),
            (DD_PARENT_ID, "1333129385407206834"),
        ];
        let tags = format!("{EX_TAGS},other=x");
        let more = [(DD_PRIORITY, "2"), (DD_ORIGIN, "rum"), (DD_TAGS, &tags)];
        let dd = one(Datadog, &[ids.as_slice(), &more].concat());
        assert_eq!(dd, Some(carried(&example(), Datadog)));
        let tc = one(TraceContext, &[(TRACEPARENT, EX_TP), (TRACESTATE, EX_TS)]);
        assert_eq!(tc, Some(example()));
        let b3 = Some(b3_context(TRACE, SPAN, Some(2)));
        assert_eq!(one(B3S, &[(B3, EX_B3)]), b3);
        let upper = (B3_TRACE_ID, "6B0927B500000000E47DC41C6512CCC3");
        let multi = [upper, (B3_SPAN_ID, "12803a1ce0d4d5b2"), (B3_FLAGS, "1")];
        assert_eq!(one(B3Multi, &multi), b3);
    }

    #[test]
    fn round_trips_every_style() {
        for trace_id in [TRACE, 0x1234, u128::from(u64::MAX), u128::MAX] {
            for priority in [None, Some(-1), Some(0), Some(1), Some(2)] {
                for style in ALL {
                    let cx = SpanContext {
                        trace_id,
                        priority,
                        ..example()
                    };
                    let back = extract(&injected(&cx, style), &ALL);
                    assert_eq!(back, Some(carried(&cx, style)), "{style:?} {cx:?}");
                }
            }
        }
    }

    #[test]
    fn writes_64_bit_trace_ids() {
        let cx = SpanContext {
            trace_id: 5,
            span_id: 6,
            ..SpanContext::default()
        };
        let h = injected(&cx, Datadog);
        let dd = [DD_TRACE_ID, DD_PRIORITY, DD_ORIGIN, DD_TAGS].map(|n| get(&h, n));
        assert_eq!(dd, [Some("5"), None, None, None]);
        let b3 = "00000000000000000000000000000005-0000000000000006";
        assert_eq!(get(&injected(&cx, B3S), B3), Some(b3));
        let h = injected(&cx, TraceContext);
        let tp = "00-00000000000000000000000000000005-0000000000000006-00";
        let state = "dd=p:0000000000000006";
        assert_eq!(
            [TRACEPARENT, TRACESTATE].map(|n| get(&h, n)),
            [Some(tp), Some(state)]
        );
    }

    #[test]
    fn first_valid_style_wins() {
        let both = |dd_id| headers(&[(DD_TRACE_ID, dd_id), (DD_PARENT_ID, "2"), (TRACEPARENT, TP)]);
        let trace = |h: &HeaderMap, styles: &[_]| extract(h, styles).map(|cx| cx.trace_id);
        assert_eq!(trace(&both("7"), &[Datadog, TraceContext]), Some(7));
        assert_eq!(trace(&both("7"), &[TraceContext, Datadog]), Some(10));
        assert_eq!(trace(&both("1,2"), &[Datadog, TraceContext]), Some(10));
        assert_eq!(trace(&both("1,2"), &[Datadog, B3S, B3Multi]), None);
        assert_eq!(trace(&both("7"), &[]), None);
    }

    #[test]
    fn tracecontext_priority_follows_the_flag() {
        for (flags, state, want) in [
            ("01", "", 1),
            ("00", "", 0),
            ("03", "", 1),
            ("01", "dd=s:2", 2),
            ("00", "dd=s:-1", -1),
            ("01", "dd=s:-1", 1),
            ("00", "dd=s:2", 0),
            ("01", "dd=s:+2", 1),
            ("01", "dd=s:2,bad", 1),
        ] {
            let tp = TP.replace("b-01", &format!("b-{flags}"));
            let cx = one(TraceContext, &[(TRACEPARENT, &tp), (TRACESTATE, state)]);
            assert_eq!(cx.unwrap().priority, Some(want), "{flags} {state}");
        }
    }

    #[test]
    fn reads_tracestate_members() {
        let first = (TRACESTATE, " a=1 ,dd=o:x~y;t.k:v~w;p:1;t.tid:ff;zz");
        let cx = one(
            TraceContext,
            &[(TRACEPARENT, TP), first, (TRACESTATE, "t@sys=2,,dd=o:z")],
        );
        let cx = cx.unwrap();
        assert_eq!(cx.origin.as_deref(), Some("x=y"));
        assert_eq!(cx.tags, [("_dd.p.k".to_owned(), "v=w".to_owned())]);
        assert_eq!(cx.tracestate_others.as_deref(), Some("a=1,t@sys=2"));
        let others = |state: &str| one(TraceContext, &[(TRACEPARENT, TP), (TRACESTATE, state)]);
        let others = |state| others(state).unwrap().tracestate_others;
        assert_eq!(others("foo=bar").as_deref(), Some("foo=bar"));
        let long = format!("k={}", "v".repeat(300));
        for bad in "Foo=bar foo =x foo=a=b a@b@c=1 dd=s:2,x="
            .split(' ')
            .chain([long.as_str()])
        {
            assert_eq!(others(bad), None, "{bad}");
        }
        let many: Vec<String> = (0..40).map(|i| format!("k{i}=v")).collect();
        assert_eq!(others(&many.join(",")).unwrap().split(',').count(), 32);
        let cx = SpanContext {
            tracestate_others: Some(many.join(",")),
            ..example()
        };
        let out = injected(&cx, TraceContext);
        assert_eq!(get(&out, TRACESTATE).unwrap().split(',').count(), 32);
    }

    #[test]
    fn sanitizes_injected_values() {
        let tag = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let cx = SpanContext {
            origin: Some("a=b,c;d~é".into()),
            tags: vec![
                tag("_dd.p.k=;", "x=y,z;~\u{7f}é"),
                tag("_dd.p.bad", "a,b"),
                tag("not.propagated", "1"),
                tag("_dd.p.long", &"v".repeat(600)),
            ],
            tracestate_others: Some("dd=s:1,Bad=1,ok=1".into()),
            ..example()
        };
        let h = injected(&cx, TraceContext);
        let state = "dd=s:2;o:a~b_c_d__;p:12803a1ce0d4d5b2;t.k__:x~y_z____;t.bad:a_b;\
                     t.tid:6b0927b500000000,ok=1";
        assert_eq!(get(&h, TRACESTATE), Some(state));
        let h = injected(&cx, Datadog);
        let tid = "_dd.p.tid=6b0927b500000000";
        assert_eq!([DD_ORIGIN, DD_TAGS].map(|n| get(&h, n)), [None, Some(tid)]);
        let zero = SpanContext {
            span_id: 0,
            ..example()
        };
        assert!(injected(&zero, TraceContext).is_empty());
    }

    #[test]
    fn inject_replaces_existing_headers() {
        let mut h = headers(&[(DD_ORIGIN, "x"), (DD_TAGS, "x"), (B3_SAMPLED, "0")]);
        h.append(B3, HeaderValue::from_static("x"));
        let cx = SpanContext {
            origin: None,
            tags: vec![],
            trace_id: 1,
            ..example()
        };
        inject(&cx, &ALL, &mut h);
        let stale = [DD_ORIGIN, DD_TAGS, B3_SAMPLED].map(|n| get(&h, n));
        assert_eq!(stale, [None, None, None]);
        assert_eq!(h.get_all(B3).iter().count(), 1);
        assert_eq!(extract(&h, &[B3Multi]).unwrap().priority, Some(2));
    }

    #[test]
    fn rejects_hostile_datadog_headers() {
        let huge = "9".repeat(10_000);
        let ids = "|0|1,2|+5|-5| 5|5 |18446744073709551616|0x10|١٢|";
        let dd = |trace, parent| one(Datadog, &[(DD_TRACE_ID, trace), (DD_PARENT_ID, parent)]);
        for id in ids.split('|').chain([huge.as_str()]) {
            assert_eq!((dd(id, "2"), dd("1", id)), (None, None), "{id}");
        }
        assert_eq!(one(Datadog, &[(DD_TRACE_ID, "1")]), None);
        let base = [(DD_TRACE_ID, "1"), (DD_PARENT_ID, "2")];
        let with = |name: &'static str, value: &str| {
            one(Datadog, &[base[0], base[1], (name, value)]).unwrap()
        };
        let priorities = "+1 -1 127 128 1.0 "
            .split(' ')
            .map(|p| with(DD_PRIORITY, p).priority);
        let priorities: Vec<_> = priorities.collect();
        assert_eq!(priorities, [None, Some(-1), Some(127), None, None, None]);
        assert_eq!(with(DD_ORIGIN, "a b").origin, None);
        let tid = "_dd.p.tid=0000000000000001";
        let long = format!("{tid},_dd.p.x={}", "a".repeat(570));
        for tags in [
            format!("{tid},_dd.p.x"),
            format!("{tid},=1"),
            format!("{tid},"),
            long,
        ] {
            let cx = with(DD_TAGS, &tags);
            assert_eq!((cx.trace_id, cx.tags), (1, vec![]), "{tags}");
        }
        for tid in "1 00000000000000001 000000000000000g -000000000000001".split(' ') {
            let cx = with(DD_TAGS, &format!("_dd.p.tid={tid},_dd.p.dm=-4"));
            assert_eq!((cx.trace_id, cx.tags.len()), (1, 1), "{tid}");
        }
    }

    #[test]
    fn rejects_hostile_traceparents() {
        let parsed = |tp: &str| one(TraceContext, &[(TRACEPARENT, tp)]).map(|cx| cx.trace_id);
        let later = TP.replacen("00", "cc", 1);
        // A later version may add fields; version 00 may not.
        for ok in [TP.to_owned(), format!("{later}-xyz"), later.clone()] {
            assert_eq!(parsed(&ok), Some(10), "{ok}");
        }
        let bad = [
            String::new(),
            TP.replacen("00", "0", 1),
            format!("{TP}-"),
            format!("{later}x"),
            TP.replacen("00", "ff", 1),
            TP.replace("000a", "0000"),
            TP.replace("000b", "0000"),
            TP.replace('a', "A"),
            TP.replace("-01", "-0g"),
            TP.replacen('-', "_", 1),
            TP.replace("-0", "-+"),
            "0".repeat(10_000),
        ];
        for bad in bad {
            assert_eq!(parsed(&bad), None, "{bad}");
        }
        assert_eq!(
            one(TraceContext, &[(TRACEPARENT, TP), (TRACEPARENT, TP)]),
            None
        );
    }

    #[test]
    fn reads_b3_variants() {
        let (t, s) = ("000000000000000a", "000000000000000B");
        let b3 = |value: &str| one(B3S, &[(B3, value)]).map(|cx| (cx.trace_id, cx.priority));
        let tails = [
            ("", None),
            ("-0", Some(0)),
            ("-1-000000000000000c", Some(1)),
            ("-d", Some(2)),
        ];
        for (tail, want) in tails {
            assert_eq!(b3(&format!("{t}-{s}{tail}")), Some((10, want)), "{tail}");
            let long = b3(&format!("{t}{t}-{s}{tail}"));
            assert_eq!(long, Some((0xa_0000_0000_0000_000a, want)));
        }
        let odd = [
            format!("0{t}-{s}"),
            format!("{t}-{}", "0".repeat(16)),
            format!("{}-{s}", "0".repeat(16)),
        ];
        let tails = "-x -1-000000000000000c-1 -1-zz -D -"
            .split(' ')
            .map(|tail| format!("{t}-{s}{tail}"));
        for value in tails.chain(odd).chain(["0", "d", ""].map(String::from)) {
            assert_eq!(b3(&value), None, "{value}");
        }
        let multi = |extra: &[(&'static str, &str)]| {
            let mut pairs = vec![(B3_TRACE_ID, t), (B3_SPAN_ID, s)];
            pairs.extend_from_slice(extra);
            one(B3Multi, &pairs).map(|cx| cx.priority)
        };
        assert_eq!(multi(&[]), Some(None));
        assert_eq!(multi(&[(B3_SAMPLED, "1")]), Some(Some(1)));
        assert_eq!(multi(&[(B3_SAMPLED, "0"), (B3_FLAGS, "1")]), Some(Some(2)));
        assert_eq!(multi(&[(B3_SAMPLED, "d"), (B3_FLAGS, "0")]), Some(None));
        assert_eq!(one(B3Multi, &[(B3_TRACE_ID, t)]), None);
        assert_eq!(one(B3Multi, &[(B3_TRACE_ID, "a"), (B3_SPAN_ID, s)]), None);
    }

    #[test]
    fn detects_trace_headers() {
        use crate::has_trace_headers;
        let unrelated = headers(&[(DD_PARENT_ID, "1"), (TRACESTATE, "a=b")]);
        assert!(!has_trace_headers(&unrelated) && !has_trace_headers(&HeaderMap::new()));
        for name in [DD_TRACE_ID, TRACEPARENT, B3, B3_TRACE_ID] {
            assert!(has_trace_headers(&headers(&[(name, "x")])));
        }
    }

    /// Random and mutated header values: no panic, never a zero ID.
    #[test]
    fn survives_random_bytes() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            // xorshift64: cheap and reproducible.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut valid = HeaderMap::new();
        inject(&example(), &ALL, &mut valid);
        let names: Vec<_> = valid.keys().cloned().collect();
        let mut found = 0;
        for _ in 0..5_000 {
            let mut h = valid.clone();
            for name in &names {
                let mut bytes = h[name].as_bytes().to_vec();
                match next() % 4 {
                    0 => bytes = (0..next() % 64).map(|_| next() as u8).collect(),
                    1 => bytes.truncate((next() % 60) as usize),
                    2 if !bytes.is_empty() => {
                        let at = (next() as usize) % bytes.len();
                        bytes[at] = next() as u8;
                    }
                    _ => {}
                }
                if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                    h.insert(name, value);
                }
            }
            for cx in ALL.iter().filter_map(|style| extract(&h, &[*style])) {
                assert!(cx.trace_id != 0 && cx.span_id != 0, "{h:?}");
                inject(&cx, &ALL, &mut HeaderMap::new());
                found += 1;
            }
        }
        assert!(found > 100, "too few valid contexts left: {found}");
    }
}
