//! The W3C `baggage` style: one `baggage` header of `key=value` items,
//! percent-encoded, read and written as dd-trace-py does.

use std::fmt::Write as _;

use http::HeaderMap;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use super::context::*;

pub(super) const BAGGAGE: &str = "baggage";

/// DataDog's limit on baggage items, read or written.
pub(super) const MAX_ITEMS: usize = 64;

/// DataDog's limit on the `baggage` header's bytes, read or written.
pub(super) const MAX_BYTES: usize = 8192;

/// Characters escaped in keys: all but letters, digits and ``!#$%&'*+-.^_`|~``.
const KEY_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'%')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'*')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// Characters escaped in values: keys' set, less `()/:<>?@[]{}`.
const VALUE_ESCAPES: &AsciiSet = &KEY_ESCAPES
    .remove(b'(')
    .remove(b')')
    .remove(b'/')
    .remove(b':')
    .remove(b'<')
    .remove(b'>')
    .remove(b'?')
    .remove(b'@')
    .remove(b'[')
    .remove(b']')
    .remove(b'{')
    .remove(b'}');

/// The items of the `baggage` header: the first 64, within 8192 bytes;
/// none at all when an item has no '=' or an empty key or value.
pub(super) fn extract_baggage(h: &HeaderMap) -> Vec<(String, String)> {
    let Some(value) = h
        .get(BAGGAGE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()))
    else {
        return Vec::new();
    };
    let mut items: Vec<(String, String)> = Vec::new();
    let mut bytes = 0;
    for (i, item) in value.split(',').enumerate() {
        if i >= MAX_ITEMS {
            break;
        }
        let Some((key, val)) = item.split_once('=') else {
            return Vec::new();
        };
        let size = item.len() + usize::from(!items.is_empty());
        if bytes + size > MAX_BYTES {
            break;
        }
        let decode = |s: &str| {
            percent_decode_str(s.trim())
                .decode_utf8_lossy()
                .into_owned()
        };
        let (key, val) = (decode(key), decode(val));
        if key.is_empty() || val.is_empty() {
            return Vec::new();
        }
        match items.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = val,
            None => items.push((key, val)),
        }
        bytes += size;
    }
    items
}

/// Writes the `baggage` header (none without items): the first 64 items,
/// stopping before the one that would pass 8192 bytes.
pub(super) fn inject_baggage(baggage: &[(String, String)], h: &mut HeaderMap) {
    if baggage.is_empty() {
        return;
    }
    let mut out = String::new();
    for (key, value) in baggage.iter().take(MAX_ITEMS) {
        let before = out.len();
        if before > 0 {
            out.push(',');
        }
        let key = utf8_percent_encode(key.trim(), KEY_ESCAPES);
        let value = utf8_percent_encode(value.trim(), VALUE_ESCAPES);
        let _ = write!(out, "{key}={value}");
        if out.len() > MAX_BYTES {
            out.truncate(before);
            break;
        }
    }
    set(h, BAGGAGE, out);
}
