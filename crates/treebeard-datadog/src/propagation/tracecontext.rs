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
    let mut state = state.unwrap_or_default();
    let mut priority = Some(i8::from(sampled));
    if state.has_dd {
        priority = sampling_priority(sampled, state.priority, state.origin.as_deref());
        // The flag overrode the dd member's priority: the decision is the
        // flag's, not the mechanism's upstream (as dd-trace-rs does).
        if priority != state.priority {
            state.tags.retain(|(k, _)| k != DM_TAG);
            if sampled {
                state.tags.push((DM_TAG.to_owned(), "-0".to_owned()));
            }
        }
    }
    Some(SpanContext {
        trace_id,
        span_id,
        priority,
        origin: state.origin,
        tags: state.tags,
        tracestate_others: Some(state.others).filter(|o| !o.is_empty()),
        last_parent_id: state.last_parent_id,
        ..SpanContext::default()
    })
}

/// dd-trace-py's rule: the dd member's priority counts when it agrees with
/// the sampled flag, else the flag's (1 or 0); a RUM origin without a
/// priority leaves the decision to this tracer (None).
pub(super) fn sampling_priority(
    sampled: bool,
    state: Option<i8>,
    origin: Option<&str>,
) -> Option<i8> {
    let unset = state.is_none_or(|s| s == 0);
    if unset && origin == Some("rum") {
        return state;
    }
    match state {
        Some(s) if s != 0 && (s > 0) == sampled => Some(s),
        _ => Some(i8::from(sampled)),
    }
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

/// The received `tracestate` within DataDog's limits, as a span link to
/// its context records it ("" when there is none or it is not ASCII).
pub(super) fn received_tracestate(h: &HeaderMap) -> String {
    let Some(raw) = joined_tracestate(h) else {
        return String::new();
    };
    let members: Vec<&str> = raw.split(',').collect();
    let members = members_within_limits(&members, None);
    let printable = members
        .iter()
        .all(|m| m.bytes().all(|b| matches!(b, b' '..=b'~')));
    if printable {
        members.join(",")
    } else {
        String::new()
    }
}

/// What `tracestate` carries for us, and the other vendors' members.
#[derive(Default)]
pub(super) struct TraceState {
    has_dd: bool,
    priority: Option<i8>,
    origin: Option<String>,
    tags: Vec<(String, String)>,
    last_parent_id: Option<u64>,
    others: String,
}

/// Reads the list within DataDog's limits (see [`members_within_limits`]);
/// None when it holds a character outside printable ASCII. The last `dd=`
/// member is ours; a malformed one is ignored, the others pass on verbatim.
pub(super) fn parse_tracestate(raw: &str) -> Option<TraceState> {
    let members: Vec<&str> = raw.split(',').collect();
    let members = members_within_limits(&members, None);
    if members
        .iter()
        .any(|m| !m.bytes().all(|b| matches!(b, b' '..=b'~')))
    {
        return None;
    }
    let mut state = TraceState::default();
    for member in &members {
        if let Some(value) = member.strip_prefix("dd=") {
            let mut dd = TraceState::default();
            if parse_dd_member(value, &mut dd).is_some() {
                state = TraceState { has_dd: true, ..dd };
            }
        }
    }
    state.others = members
        .iter()
        .filter(|m| !m.starts_with("dd="))
        .copied()
        .collect::<Vec<_>>()
        .join(",");
    Some(state)
}

/// `s:<priority>;o:<origin>;p:<span>;t.<tag>:<value>`, '~' standing for
/// '='; None (the member ignored) when a field has no ':' or `s` is no number.
pub(super) fn parse_dd_member(value: &str, state: &mut TraceState) -> Option<()> {
    for item in value.split(';') {
        let (key, val) = item.split_once(':')?;
        let val = val.replace('~', "=");
        match key {
            "s" => state.priority = Some(parse_priority(&val)?),
            "o" => state.origin = Some(val).filter(|o| !o.is_empty()),
            "p" => state.last_parent_id = parse_hex(&val, 16, false).map(low_u64),
            // The traceparent already holds all 128 bits.
            "t.tid" => {}
            _ => {
                if let Some(name) = key.strip_prefix("t.").filter(|name| !name.is_empty()) {
                    let tag = format!("{TAG_PREFIX}{name}");
                    match state.tags.iter_mut().find(|(k, _)| *k == tag) {
                        Some(slot) => slot.1 = val,
                        None => state.tags.push((tag, val)),
                    }
                }
            }
        }
    }
    Some(())
}

/// Longest other-vendor member kept first when the list must shrink.
const MAX_MEMBER_CHARS: usize = 128;

/// Most bytes of a whole `tracestate`.
const MAX_TRACESTATE_BYTES: usize = 512;

/// dd-trace-py's tracestate limits: the last `dd=` member (or `dd`, ours,
/// when given) and the last `ot=` member come first and are kept; other
/// `dd=`/`ot=` members go; the others are cut to 32 members in all,
/// dropping members over 128 characters first, then to 512 bytes.
pub(super) fn members_within_limits<'a>(members: &[&'a str], dd: Option<&'a str>) -> Vec<&'a str> {
    let members: Vec<&str> = members
        .iter()
        .map(|m| m.trim_matches([' ', '\t']))
        .filter(|m| !m.is_empty())
        .collect();
    let last = |prefix: &str| {
        members
            .iter()
            .rev()
            .find(|m| m.starts_with(prefix))
            .copied()
    };
    let protected: Vec<&str> = [dd.or_else(|| last("dd=")), last("ot=")]
        .into_iter()
        .flatten()
        .collect();
    let mut others: Vec<&str> = members
        .iter()
        .filter(|m| !m.starts_with("dd=") && !m.starts_with("ot="))
        .copied()
        .collect();
    let max_others = MAX_MEMBERS - protected.len();
    if others.len() > max_others {
        let mut excess = others.len() - max_others;
        others.retain(|m| {
            let drop = excess > 0 && m.len() > MAX_MEMBER_CHARS;
            excess -= usize::from(drop);
            !drop
        });
        others.truncate(max_others);
    }
    let mut packed: Vec<&str> = Vec::new();
    let mut bytes = 0;
    for (i, member) in protected.iter().chain(&others).enumerate() {
        let size = member.len() + usize::from(!packed.is_empty());
        if (i == 0 && !protected.is_empty()) || bytes + size <= MAX_TRACESTATE_BYTES {
            packed.push(member);
            bytes += size;
        } else if i < protected.len() || member.len() <= MAX_MEMBER_CHARS {
            // A protected member that does not fit ends the list; so does
            // an ordinary one; an oversized one is skipped.
            break;
        }
    }
    packed
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
/// members within DataDog's limits (32 members, 512 bytes).
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
    let others = cx.tracestate_others.as_deref().unwrap_or_default();
    let others: Vec<&str> = others.split(',').collect();
    // dd-trace-py applies the limits before it adds `p:` to the dd member.
    let p_field = format!("p:{:016x}", cx.span_id);
    let without_p =
        out.replacen(&format!(";{p_field}"), "", 1)
            .replacen(&format!("{p_field};"), "", 1);
    let mut members = members_within_limits(&others, Some(&without_p));
    if let Some(first) = members.first_mut() {
        *first = &out;
    }
    members.join(",")
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
