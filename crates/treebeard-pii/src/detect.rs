//! The built-in detectors: their regexes and the checks a regex cannot do
//! (Luhn, digit counts, the characters around a number).
//!
//! Every regex is ASCII-only (`(?-u)` word boundaries and classes) so the
//! lazy DFA never has to give up on non-ASCII text.

use crate::markers;

/// What a detector looks for, which decides the checks applied to a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A user pattern, by index into the builder's list.
    Custom(usize),
    /// `key=value`, `key: value` or `"key": "value"` with a sensitive key.
    KeyValue,
    /// The password of `scheme://user:password@host`.
    UrlPassword,
    /// A token recognisable by its shape or prefix.
    Token,
    /// The credentials after `Bearer `.
    Bearer,
    /// An e-mail address.
    Email,
    /// A payment card number (checked with Luhn).
    Card,
    /// A phone number (checked by digit count and context).
    Phone,
}

/// A built-in detector: its kind, marker and regex source.
pub(crate) struct Builtin {
    pub(crate) kind: Kind,
    pub(crate) marker: &'static str,
    pub(crate) source: String,
}

/// Secret-shaped tokens whose prefix or structure says what they are.
/// [`standalone`] checks that a match is not glued to other text.
const TOKEN_PATTERN: &str = concat!(
    r"(?-u:",
    // JWT: base64url header and payload both start with `{"`.
    r"eyJ[A-Za-z0-9_\-]{4,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*",
    // Stripe secret and restricted keys.
    r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{8,}",
    // Slack bot, user, app, refresh and legacy tokens.
    r"|xox[abprs]-[A-Za-z0-9\-]{8,}",
    // AWS access key IDs (long-term and temporary).
    r"|(?:AKIA|ASIA)[A-Z0-9]{16}",
    // GitHub personal, OAuth, user-to-server, server and refresh tokens.
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}",
    // Google API keys.
    r"|AIza[A-Za-z0-9_\-]{35}",
    r")"
);

/// `Bearer <token>`; group 1 is the token.
const BEARER_PATTERN: &str = r"(?i-u:\bbearer)(?-u:[ \t]+([A-Za-z0-9\-._~+/]+=*))";

/// The password in a URL's userinfo; group 1 is the password.
const URL_PASSWORD_PATTERN: &str =
    r"(?-u:\b[A-Za-z][A-Za-z0-9+.\-]*://[A-Za-z0-9\-._~%!$&'*+,;=]*:)([^\s/?#@\[\]]+)@";

/// E-mail addresses: a dotted domain with an alphabetic top-level label.
/// Letters may be non-ASCII (`jürgen@müller.de`), or part of the address
/// would be left in front of the marker.
const EMAIL_PATTERN: &str = r"[\w.%+\-]+@[\w\-]+(?:\.[\w\-]+)*\.\p{L}{2,}";

/// 13–19 digits, optionally grouped by single spaces or dashes, starting
/// with a major-network digit (2–6: Mastercard, Amex, Visa, Discover, JCB,
/// UnionPay, Diners). Leaving out 1, 7, 8 and 9 keeps millisecond
/// timestamps and snowflake IDs out of the candidates.
const CARD_PATTERN: &str = r"(?-u:\b[2-6](?:[ \-]?[0-9]){12,18}\b)";

/// Phone numbers: international (`+` and country code), North American
/// with separators or an area code in parentheses, and trunk-prefix
/// national numbers (`0…`) of Europe and elsewhere.
const PHONE_PATTERN: &str = concat!(
    r"(?-u:",
    r"\+[1-9](?:[ .\-]?\(?[0-9]{1,4}\)?){1,7}",
    r"|(?:\b1[ .\-]?)?\([0-9]{3}\)[ ]?[0-9]{3}[ .\-][0-9]{4}\b",
    r"|\b(?:1[ .\-])?(?:[0-9]{3}-[0-9]{3}-[0-9]{4}|[0-9]{3}\.[0-9]{3}\.[0-9]{4}|[0-9]{3} [0-9]{3} [0-9]{4})\b",
    r"|\b0[1-9][0-9]{0,4}(?:[ \-/]?[0-9]{2,4}){1,4}\b",
    r")"
);

/// The authentication schemes that may precede a credential value, so
/// `Authorization: Bearer abc` redacts the credential and not only `Bearer`.
const AUTH_SCHEMES: &[&str] = &["bearer", "basic", "digest", "token", "bot", "negotiate"];

/// The regex for `key<sep>` where the key contains one of `names`.
/// The value is parsed by [`value_span`], which a regex can't do well
/// (quotes with escapes, auth schemes).
pub(crate) fn key_value_pattern(names: &[String]) -> String {
    let stems: Vec<String> = names
        .iter()
        .map(|name| {
            let chars: Vec<String> = name
                .chars()
                .map(|c| regex::escape(&c.to_string()))
                .collect();
            chars.join(r"[\-_.]?")
        })
        .collect();
    format!(
        r#"(?i-u:[A-Za-z0-9_.\-]*(?:{})[A-Za-z0-9_.\-]*(?:\\?["'])?[ \t]*[:=])"#,
        stems.join("|")
    )
}

/// The key of a [`key_value_pattern`] match: the match without the
/// separator, blanks and closing quote that follow the key.
pub(crate) fn key_of(matched: &str) -> &str {
    matched.trim_end_matches([':', '=', ' ', '\t', '"', '\'', '\\'])
}

/// The built-in detectors in priority order (an earlier one wins when two
/// start at the same byte).
pub(crate) fn builtin(key_names: &[String]) -> Vec<Builtin> {
    let b = |kind, marker, source: &str| Builtin {
        kind,
        marker,
        source: source.to_owned(),
    };
    vec![
        Builtin {
            kind: Kind::KeyValue,
            marker: markers::REDACTED,
            source: key_value_pattern(key_names),
        },
        b(Kind::UrlPassword, markers::REDACTED, URL_PASSWORD_PATTERN),
        b(Kind::Token, markers::TOKEN, TOKEN_PATTERN),
        b(Kind::Bearer, markers::TOKEN, BEARER_PATTERN),
        b(Kind::Email, markers::EMAIL, EMAIL_PATTERN),
        b(Kind::Card, markers::CARD, CARD_PATTERN),
        b(Kind::Phone, markers::PHONE, PHONE_PATTERN),
    ]
}

/// Whether `b` counts as part of a word around a number. Marker brackets
/// count too, so a number next to a marker is judged the same before and
/// after its neighbour was replaced (which keeps scrubbing idempotent).
fn is_wordish(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'[' | b']')
}

/// Whether `start..end` is not glued to a word on either side (a marker
/// counts as a word), so that replacing a neighbour never makes it match.
pub(crate) fn standalone(s: &str, start: usize, end: usize) -> bool {
    let bytes = s.as_bytes();
    let before = start.checked_sub(1).and_then(|i| bytes.get(i)).copied();
    let after = bytes.get(end).copied();
    !before.is_some_and(is_wordish) && !after.is_some_and(is_wordish)
}

/// Whether the number at `start..end` is part of something larger: an
/// identifier (`ORD-…`), a UUID, a version or an IP-like dotted run.
pub(crate) fn embedded_number(s: &str, start: usize, end: usize) -> bool {
    let bytes = s.as_bytes();
    let before = start.checked_sub(1).and_then(|i| bytes.get(i)).copied();
    let before2 = start.checked_sub(2).and_then(|i| bytes.get(i)).copied();
    let after = bytes.get(end).copied();
    let after2 = bytes.get(end + 1).copied();
    let joined = |sep: Option<u8>, other: Option<u8>| {
        matches!(sep, Some(b'-' | b'.')) && other.is_some_and(is_wordish)
    };
    !standalone(s, start, end) || joined(before, before2) || joined(after, after2)
}

/// The Luhn checksum over ASCII digits.
pub(crate) fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d.saturating_sub(b'0'));
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// The longest run of whole digit groups inside a card candidate that is
/// a valid card number (13–19 digits, Luhn), as a byte range of `s`.
///
/// A candidate can be longer than the card it holds (`4111 1111 1111 1111
/// 123` with the CVV behind it), so every run of whole groups is tried.
pub(crate) fn card_span(s: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let text = s.get(start..end)?;
    // Byte ranges (relative to `start`) of the digit groups.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut group_start = None;
    for (i, b) in text.bytes().enumerate() {
        match (b.is_ascii_digit(), group_start) {
            (true, None) => group_start = Some(i),
            (false, Some(g)) => {
                groups.push((g, i));
                group_start = None;
            }
            _ => {}
        }
    }
    if let Some(g) = group_start {
        groups.push((g, text.len()));
    }
    let mut best: Option<(usize, usize)> = None;
    let mut digits = Vec::with_capacity(19);
    for first in 0..groups.len() {
        for last in (first..groups.len()).rev() {
            let (from, _) = groups[first];
            let (_, to) = groups[last];
            if best.is_some_and(|(bf, bt)| bt - bf >= to - from) {
                break;
            }
            digits.clear();
            digits.extend(
                text.bytes()
                    .skip(from)
                    .take(to - from)
                    .filter(u8::is_ascii_digit),
            );
            let network_digit = digits.first().is_some_and(|d| (b'2'..=b'6').contains(d));
            if (13..=19).contains(&digits.len()) && network_digit && luhn_valid(&digits) {
                best = Some((from, to));
            }
        }
    }
    let (from, to) = best?;
    let (abs_from, abs_to) = (start + from, start + to);
    (!embedded_number(s, abs_from, abs_to)).then_some((abs_from, abs_to))
}

/// Whether the phone candidate at `start..end` has a plausible digit count
/// and stands on its own.
pub(crate) fn phone_valid(s: &str, start: usize, end: usize) -> bool {
    let Some(text) = s.get(start..end) else {
        return false;
    };
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    let plausible = if text.starts_with('+') {
        (8..=15).contains(&digits)
    } else if text.starts_with('0') {
        (10..=12).contains(&digits)
    } else {
        (10..=11).contains(&digits)
    };
    plausible && !embedded_number(s, start, end)
}

/// Whether a bearer credential looks like one: long enough and with a
/// digit, so prose such as "Bearer authentication" is left alone.
pub(crate) fn bearer_valid(token: &str) -> bool {
    token.len() >= 8 && token.bytes().any(|b| b.is_ascii_digit())
}

/// The byte range of the value that follows a `key<sep>` match ending at
/// `from`, without its quotes; `None` when there is nothing to redact
/// (empty, a nested object or array, or an existing marker).
pub(crate) fn value_span(s: &str, from: usize) -> Option<(usize, usize)> {
    let bytes = s.as_bytes();
    let mut i = from;
    while matches!(bytes.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    let first = *bytes.get(i)?;
    let (start, end) = match first {
        // `::` or `==` are paths and comparisons, not assignments.
        b':' | b'=' | b'[' | b'{' | b'(' => return None,
        b'\\' if bytes.get(i + 1) == Some(&b'"') => {
            // JSON inside a JSON string: the value ends at the next `\"`.
            let start = i + 2;
            let rest = s.get(start..).unwrap_or_default();
            let line = rest
                .find(['\n', '\r'])
                .and_then(|n| rest.get(..n))
                .unwrap_or(rest);
            (start, start + line.find("\\\"").unwrap_or(line.len()))
        }
        b'"' => {
            let start = i + 1;
            let mut j = start;
            while let Some(&b) = bytes.get(j) {
                match b {
                    b'\\' => j += 2,
                    b'"' | b'\n' | b'\r' => break,
                    _ => j += 1,
                }
            }
            (start, j.min(s.len()))
        }
        b'\'' => {
            let start = i + 1;
            let end = s
                .get(start..)
                .and_then(|rest| rest.find(['\'', '\n', '\r']))
                .map_or(s.len(), |n| start + n);
            (start, end)
        }
        _ => {
            let mut j = i;
            // Include an auth scheme and the credential behind it.
            let word_end = bytes
                .get(i..)
                .and_then(|rest| rest.iter().position(|b| !b.is_ascii_alphabetic()))
                .map_or(s.len(), |n| i + n);
            let word = s.get(i..word_end).unwrap_or_default();
            if AUTH_SCHEMES
                .iter()
                .any(|scheme| word.eq_ignore_ascii_case(scheme))
            {
                let mut k = word_end;
                while matches!(bytes.get(k), Some(b' ' | b'\t')) {
                    k += 1;
                }
                if k > word_end && bytes.get(k).is_some_and(|b| !is_value_end(*b)) {
                    j = k;
                }
            }
            while bytes.get(j).is_some_and(|b| !is_value_end(*b)) {
                j += 1;
            }
            (i, j)
        }
    };
    let value = s.get(start..end)?;
    (!value.is_empty() && value != markers::REDACTED).then_some((start, end))
}

/// Where an unquoted value ends.
fn is_value_end(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'&' | b',' | b';' | b'"' | b'\'' | b'}' | b']' | b')' | b'<' | b'>'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_key_value_matches() {
        assert_eq!(key_of("password="), "password");
        assert_eq!(key_of("password\" :"), "password");
        assert_eq!(key_of("pwd\\\":"), "pwd");
        assert_eq!(key_of("Api-Key\t:"), "Api-Key");
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid(b"4111111111111111"));
        assert!(luhn_valid(b"378282246310005"));
        assert!(luhn_valid(b"5555555555554444"));
        assert!(!luhn_valid(b"4111111111111112"));
    }

    #[test]
    fn card_span_finds_the_card_inside_a_longer_run() {
        let s = "pay 4111 1111 1111 1111 123 now";
        let (a, b) = card_span(s, 4, 27).unwrap();
        assert_eq!(&s[a..b], "4111 1111 1111 1111");
        assert_eq!(card_span("4111 1111 1111 1112", 0, 19), None);
    }

    #[test]
    fn embedded_numbers() {
        let s = "ORD-5551234567 id 555-123-4567.";
        assert!(embedded_number(s, 4, 14));
        assert!(!embedded_number(s, 18, 30));
        assert!(embedded_number("a1234", 1, 5));
        assert!(embedded_number("10.0.0.1", 0, 2));
    }

    #[test]
    fn values() {
        fn v(s: &str, from: usize) -> Option<&str> {
            value_span(s, from).map(|(a, b)| &s[a..b])
        }
        assert_eq!(v("password=hunter2&x=1", 9), Some("hunter2"));
        assert_eq!(v(r#""password": "a\"b c", "x""#, 11), Some(r#"a\"b c"#));
        assert_eq!(v(r#"{\"pwd\":\"s3cr3t\"}"#, 9), Some("s3cr3t"));
        assert_eq!(v("pwd: 'x y'", 4), Some("x y"));
        assert_eq!(
            v("Authorization: Bearer abc.def", 14),
            Some("Bearer abc.def")
        );
        assert_eq!(v("Authorization: Basic", 14), Some("Basic"));
        assert_eq!(v("token::Kind", 6), None);
        assert_eq!(v("secret: {\"a\": 1}", 7), None);
        assert_eq!(v("secret=[REDACTED]", 7), None);
        assert_eq!(v("secret=", 7), None);
        assert_eq!(v("secret=\"unterminated", 7), Some("unterminated"));
        assert_eq!(v("secret=\"ends in escape\\", 7), Some("ends in escape\\"));
    }
}
