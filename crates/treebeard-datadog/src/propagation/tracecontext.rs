//! The W3C `tracecontext` style: `traceparent`, and `tracestate` with a
//! `dd=` member.

use std::borrow::Cow;
use std::fmt::Write as _;

use http::HeaderMap;

use super::context::*;

pub(super) const TRACEPARENT: &str = "traceparent";
pub(super) const TRACESTATE: &str = "tracestate";

/// W3C's limit on `tracestate` list members.
pub(super) const MAX_MEMBERS: usize = 32;

/// Room for `;t.*` tags in the `dd=` member (dd-trace-rs: half of 256).
pub(super) const MAX_TS_TAGS_LEN: usize = 128;

/// Longest origin put in `tracestate`, so that the `dd=` value stays within
/// W3C's 256 bytes (s ≤ 6, p = 19, tags ≤ 128).
pub(super) const MAX_TS_ORIGIN_LEN: usize = 100;

/// W3C `traceparent`, plus what `tracestate` carries when it parses.
pub(super) fn extract_tracecontext(h: &HeaderMap) -> Option<SpanContext> {
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
pub(super) fn parse_traceparent(tp: &str) -> Option<(u128, u64, bool)> {
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
pub(super) fn joined_tracestate(h: &HeaderMap) -> Option<Cow<'_, str>> {
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
pub(super) struct TraceState {
    priority: Option<i8>,
    origin: Option<String>,
    tags: Vec<(String, String)>,
    others: String,
}

/// Reads the first 32 members (as DataDog does); None when one is invalid.
pub(super) fn parse_tracestate(raw: &str) -> Option<TraceState> {
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
pub(super) fn parse_dd_member(value: &str, state: &mut TraceState) {
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
pub(super) fn valid_ts_key(key: &str) -> bool {
    let ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/@".contains(&b);
    let starts_ok = key
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() && ok(b));
    starts_ok && key.len() <= 256 && key.bytes().all(ok) && key.matches('@').count() <= 1
}

/// W3C value: 1 to 256 printable ASCII characters other than ',' and '='.
pub(super) fn valid_ts_value(value: &str) -> bool {
    let ok = |b: u8| matches!(b, b' '..=b'~') && b != b',' && b != b'=';
    (1..=256).contains(&value.len()) && value.bytes().all(ok)
}

pub(super) fn inject_tracecontext(cx: &SpanContext, h: &mut HeaderMap) {
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
pub(super) fn tracestate_value(cx: &SpanContext) -> String {
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
pub(super) fn push_dd_field(out: &mut String, key: &str) {
    if !out.ends_with('=') {
        out.push(';');
    }
    out.push_str(key);
}

/// DataDog's tracestate key rule, plus ';' and ':', which would split the field.
pub(super) fn ts_key_char(c: char) -> char {
    match c {
        ',' | '=' | ';' | ':' => '_',
        '!'..='~' => c,
        _ => '_',
    }
}

/// DataDog's tracestate value rule: ',' ';' '~' and non-printables become
/// '_', and '=' (not allowed in tracestate values) is written '~'.
pub(super) fn push_ts_value(out: &mut String, value: &str) {
    out.extend(value.chars().map(|c| match c {
        '=' => '~',
        ',' | ';' | '~' => '_',
        ' '..='~' => c,
        _ => '_',
    }));
}
