//! SQL obfuscation for span resources: literals become `?`.
//!
//! Hand-written because it runs on every traced query and only needs to
//! recognise literals, not parse SQL: string literals (`'...'`, with `''`
//! escapes), numbers that are not part of an identifier, and hex blobs
//! (`x'..'`). Comments are dropped. Identifiers, keywords, placeholders
//! (`?1`, `$1`, `:name`) and quoted identifiers (`"..."`) are kept.

use std::borrow::Cow;

/// `query` with its literal values replaced by `?`.
///
/// ```
/// use treebeard::apm::obfuscate_sql;
/// assert_eq!(
///     obfuscate_sql("SELECT * FROM users WHERE email = 'a@b.c' AND age > 42 AND id = ?1"),
///     "SELECT * FROM users WHERE email = ? AND age > ? AND id = ?1"
/// );
/// ```
pub fn obfuscate_sql(query: &str) -> Cow<'_, str> {
    let bytes = query.as_bytes();
    if !bytes
        .iter()
        .any(|b| b.is_ascii_digit() || *b == b'\'' || *b == b'-' || *b == b'/')
    {
        return Cow::Borrowed(query);
    }
    let mut out = String::with_capacity(query.len());
    let mut i = 0;
    let mut prev: Option<u8> = None; // last byte copied, to tell identifiers from numbers
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\'' => {
                i = skip_string(bytes, i + 1);
                out.push('?');
                prev = Some(b'?');
            }
            b'"' | b'`' => {
                // A quoted identifier: copied as it is.
                let end = bytes[i + 1..]
                    .iter()
                    .position(|&c| c == b)
                    .map_or(bytes.len(), |p| i + 2 + p);
                out.push_str(query.get(i..end).unwrap_or(""));
                prev = Some(b);
                i = end;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = bytes[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(bytes.len(), |p| i + p);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = find(bytes, i + 2, b"*/").map_or(bytes.len(), |p| p + 2);
            }
            b'x' | b'X' if bytes.get(i + 1) == Some(&b'\'') && !prev.is_some_and(is_ident_byte) => {
                i = skip_string(bytes, i + 2);
                out.push('?');
                prev = Some(b'?');
            }
            b'0'..=b'9'
                if !prev.is_some_and(|p| is_ident_byte(p) || matches!(p, b'?' | b'$' | b':')) =>
            {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                    i += 1;
                }
                out.push('?');
                prev = Some(b'?');
            }
            _ => {
                // Copy one whole UTF-8 character.
                let len = utf8_len(b);
                let end = (i + len).min(bytes.len());
                out.push_str(query.get(i..end).unwrap_or(""));
                prev = Some(b);
                i = end;
            }
        }
    }
    Cow::Owned(out)
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Index after the closing quote of a string whose body starts at `i`.
fn skip_string(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            if bytes.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_literals_and_keeps_structure() {
        let cases = [
            (
                "SELECT id FROM users WHERE id = 42",
                "SELECT id FROM users WHERE id = ?",
            ),
            (
                "SELECT * FROM t WHERE name = 'O''Brien' AND x = 3.14",
                "SELECT * FROM t WHERE name = ? AND x = ?",
            ),
            (
                "SELECT col1, t2.c3 FROM t2 WHERE a IN (1, 2, 3)",
                "SELECT col1, t2.c3 FROM t2 WHERE a IN (?, ?, ?)",
            ),
            (
                "SELECT * FROM users WHERE id = ?1 AND k = $2 AND n = :name",
                "SELECT * FROM users WHERE id = ?1 AND k = $2 AND n = :name",
            ),
            (
                "SELECT x'DEADBEEF', 'héllo' -- secret 123\nFROM t",
                "SELECT ?, ? \nFROM t",
            ),
            ("SELECT /* card 4111 */ 1", "SELECT  ?"),
            ("SELECT \"col 5\" FROM t", "SELECT \"col 5\" FROM t"),
            ("SELECT * FROM users", "SELECT * FROM users"),
        ];
        for (input, expected) in cases {
            assert_eq!(obfuscate_sql(input), expected, "{input}");
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        for input in [
            "'",
            "x'",
            "--",
            "/*",
            "9",
            "é9'",
            "'unterminated 42",
            "\u{1F600}1",
        ] {
            let out = obfuscate_sql(input);
            assert!(!out.contains("42"));
        }
    }
}
