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
    if !bytes.iter().copied().any(may_start_token) {
        return Cow::Borrowed(query);
    }
    // Written only from the first change on: a query whose digits are all
    // placeholders (`?1`) or inside identifiers comes back borrowed.
    let mut out = Output { query, text: None };
    let mut i = 0;
    let mut prev: Option<u8> = None; // last byte kept, to tell identifiers from numbers
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\'' => {
                out.replace(i);
                i = skip_string(bytes, i + 1);
                prev = Some(b'?');
            }
            b'"' | b'`' => {
                // A quoted identifier: kept as it is.
                let end = bytes[i + 1..]
                    .iter()
                    .position(|&c| c == b)
                    .map_or(bytes.len(), |p| i + 2 + p);
                out.keep(i..end);
                prev = Some(b);
                i = end;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                out.drop_from(i);
                i = bytes[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(bytes.len(), |p| i + p);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                out.drop_from(i);
                i = find(bytes, i + 2, b"*/").map_or(bytes.len(), |p| p + 2);
            }
            b'x' | b'X' if bytes.get(i + 1) == Some(&b'\'') && !prev.is_some_and(is_ident_byte) => {
                out.replace(i);
                i = skip_string(bytes, i + 2);
                prev = Some(b'?');
            }
            b'0'..=b'9'
                if !prev.is_some_and(|p| is_ident_byte(p) || matches!(p, b'?' | b'$' | b':')) =>
            {
                out.replace(i);
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                    i += 1;
                }
                prev = Some(b'?');
            }
            _ => {
                // This byte, and the run after it that cannot start a
                // literal or comment. Runs end on ASCII bytes, so on
                // character boundaries.
                let end = bytes[i + 1..]
                    .iter()
                    .position(|&c| may_start_token(c))
                    .map_or(bytes.len(), |p| i + 1 + p);
                out.keep(i..end);
                prev = Some(bytes[end - 1]);
                i = end;
            }
        }
    }
    match out.text {
        Some(text) => Cow::Owned(text),
        None => Cow::Borrowed(query),
    }
}

/// Bytes where a literal, a quoted identifier or a comment may begin.
fn may_start_token(b: u8) -> bool {
    matches!(
        b,
        b'0'..=b'9' | b'\'' | b'"' | b'`' | b'-' | b'/' | b'x' | b'X'
    )
}

/// The obfuscated query, copied out of the original only once it differs.
struct Output<'a> {
    query: &'a str,
    /// `None` while everything so far is kept as it is.
    text: Option<String>,
}

impl Output<'_> {
    /// Keeps `query[range]`.
    fn keep(&mut self, range: std::ops::Range<usize>) {
        if let Some(text) = &mut self.text {
            text.push_str(self.query.get(range).unwrap_or(""));
        }
    }

    /// Leaves out what starts at `at` (up to where the caller continues).
    fn drop_from(&mut self, at: usize) {
        if self.text.is_none() {
            let mut text = String::with_capacity(self.query.len());
            text.push_str(self.query.get(..at).unwrap_or(""));
            self.text = Some(text);
        }
    }

    /// Puts `?` for the literal that starts at `at`.
    fn replace(&mut self, at: usize) {
        self.drop_from(at);
        if let Some(text) = &mut self.text {
            text.push('?');
        }
    }
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
            ("SELECT é1, x1, 'é' FROM t", "SELECT é?, x1, ? FROM t"),
            ("SELECT a-1, b/2 FROM t", "SELECT a-?, b/? FROM t"),
        ];
        for (input, expected) in cases {
            assert_eq!(obfuscate_sql(input), expected, "{input}");
        }
    }

    #[test]
    fn a_query_without_literals_is_not_copied() {
        for query in [
            "SELECT id, name FROM users WHERE id = ?1",
            "SELECT t2.c3, max(x) FROM t2 WHERE k = $2 AND n = :n1",
            "SELECT \"col 5\" FROM t",
        ] {
            assert!(
                matches!(obfuscate_sql(query), Cow::Borrowed(q) if q == query),
                "{query}"
            );
        }
        assert!(matches!(obfuscate_sql("SELECT 1"), Cow::Owned(_)));
        assert!(matches!(obfuscate_sql("SELECT a -- c\n"), Cow::Owned(_)));
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
