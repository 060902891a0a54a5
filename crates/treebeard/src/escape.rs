//! JSON string escaping into a reused buffer (no intermediate allocations).

use std::fmt;

/// Appends `s` to `out` as a quoted, escaped JSON string.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    push_escaped(out, s);
    out.push('"');
}

/// Appends the JSON-escaped body of `s` (no quotes).
///
/// Clean runs are skipped eight bytes at a time (most log text needs no
/// escaping) and copied with one `push_str`.
pub(crate) fn push_escaped(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    // Short text (field names, methods, statuses) is checked in one plain
    // pass: the word loop below only pays off from a few words on.
    if bytes.len() < 16 && !bytes.iter().any(|&b| byte_needs_escape(b)) {
        return out.push_str(s);
    }
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        while let Some(word) = bytes.get(i..i + 8) {
            let word: [u8; 8] = word.try_into().unwrap_or([0; 8]);
            if needs_escape(u64::from_le_bytes(word)) {
                break;
            }
            i += 8;
        }
        let Some(&b) = bytes.get(i) else { break };
        let escape: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1f | 0x7f => "",
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            push_unicode_escape(out, b);
        } else {
            out.push_str(escape);
        }
        i += 1;
        start = i;
    }
    out.push_str(&s[start..]);
}

/// Whether byte `b` must be escaped: a control character, `"`, `\\` or DEL.
fn byte_needs_escape(b: u8) -> bool {
    b < 0x20 || matches!(b, b'"' | b'\\' | 0x7f)
}

/// Whether any of the eight bytes of `w` is a control character, `"`, `\\`
/// or DEL (bytes of multi-byte UTF-8 characters never are). The classic
/// "has a byte less than n / equal to c" word tricks: exact as to whether
/// any byte matches, which is all the caller asks.
const fn needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const fn has_zero(v: u64) -> u64 {
        v.wrapping_sub(ONES) & !v & HIGHS
    }
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    let quote = has_zero(w ^ (ONES * b'"' as u64));
    let backslash = has_zero(w ^ (ONES * b'\\' as u64));
    let del = has_zero(w ^ (ONES * 0x7f));
    control | quote | backslash | del != 0
}

fn push_unicode_escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\u00");
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0xf)]));
}

/// A `fmt::Write` that escapes everything written to it, so `Debug` and
/// `Display` values are formatted straight into the line buffer.
pub(crate) struct Escaper<'a>(pub(crate) &'a mut String);

impl fmt::Write for Escaper<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        push_escaped(self.0, s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_serde_json() {
        for s in [
            "plain",
            "quote\"back\\slash",
            "new\nline\r\ttab",
            "\u{0}\u{1f}\u{7f}",
            "héllo ☃",
            "",
            "exactly8",
            "sixteen bytes ok",
            "a long clean run, then a quote\" and more clean text after it\u{7f}",
            "\u{1}2345678\"",
        ] {
            let mut out = String::new();
            write_str(&mut out, s);
            let parsed: String = serde_json::from_str(&out).unwrap();
            assert_eq!(parsed, s);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_string_round_trips_through_serde_json(s in "(?s).{0,80}") {
            let mut out = String::new();
            write_str(&mut out, &s);
            let parsed: String = serde_json::from_str(&out).unwrap();
            proptest::prop_assert_eq!(parsed, s);
        }

        #[test]
        fn word_skipping_changes_nothing(
            ascii in proptest::collection::vec(0u8..0x80, 0..64),
            any in proptest::prelude::any::<String>(),
        ) {
            let s = String::from_utf8(ascii).unwrap() + &any;
            let mut out = String::new();
            push_escaped(&mut out, &s);
            proptest::prop_assert_eq!(out, byte_by_byte(&s));
        }
    }

    /// The escaping rule one byte at a time, as it was before the word skip.
    fn byte_by_byte(s: &str) -> String {
        let mut out = String::new();
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{0}'..='\u{1f}' | '\u{7f}' => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out
    }
}
