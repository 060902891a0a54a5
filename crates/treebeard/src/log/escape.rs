//! JSON string escaping into a reused buffer (no intermediate allocations).

use std::fmt;

/// Appends `s` to `out` as a quoted, escaped JSON string.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    push_escaped(out, s);
    out.push('"');
}

/// Appends the JSON-escaped body of `s` (no quotes).
pub(crate) fn push_escaped(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1f | 0x7f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            push_unicode_escape(out, b);
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
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
        ] {
            let mut out = String::new();
            write_str(&mut out, s);
            let parsed: String = serde_json::from_str(&out).unwrap();
            assert_eq!(parsed, s);
        }
    }
}
