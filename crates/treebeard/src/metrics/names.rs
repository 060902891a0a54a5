//! Metric names and tags made safe for every backend.
//!
//! The DogStatsD exporter writes names and tags verbatim, so a `|`, `,`,
//! `#` or newline in a tag would corrupt the datagram (and `:` in a tag key
//! would move the key/value split). Everything that reaches the exporter
//! through this crate goes through these functions first. Prometheus
//! applies its own, stricter rules on top.

use std::borrow::Cow;

pub use treebeard_conventions::{MAX_NAME_LEN, valid_namespace};

/// Longest tag (`key:value`) DataDog keeps; longer tags are truncated.
pub const MAX_TAG_LEN: usize = 200;

/// A metric name DogStatsD and DataDog accept: ASCII letters, digits, `_`
/// and `.`, starting with a letter, at most [`MAX_NAME_LEN`] bytes. Other
/// characters become `_`; a name not starting with a letter gets an `m_`
/// prefix; an empty name becomes `unnamed`.
///
/// ```
/// use treebeard::metrics::sanitize_name;
/// assert_eq!(sanitize_name("cache.hit_rate"), "cache.hit_rate");
/// assert_eq!(sanitize_name("api|requests:1#x"), "api_requests_1_x");
/// assert_eq!(sanitize_name("2xx.count"), "m_2xx.count");
/// ```
pub fn sanitize_name(name: &str) -> Cow<'_, str> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    let starts_ok = name.starts_with(|c: char| c.is_ascii_alphabetic());
    if starts_ok && name.len() <= MAX_NAME_LEN && name.chars().all(valid_char) {
        return Cow::Borrowed(name);
    }
    if name.is_empty() {
        return Cow::Borrowed("unnamed");
    }
    let mut out = String::with_capacity(name.len() + 2);
    if !starts_ok {
        out.push_str("m_");
    }
    for c in name.chars() {
        if out.len() >= MAX_NAME_LEN {
            break;
        }
        out.push(if valid_char(c) { c } else { '_' });
    }
    Cow::Owned(out)
}

/// Joins `namespace` and `name` with a dot, sanitising the result.
pub fn full_name(namespace: &str, name: &str) -> String {
    let joined = treebeard_conventions::metric_name(namespace, name);
    sanitize_name(&joined).into_owned()
}

/// A tag key DogStatsD cannot misread: `|`, `,`, `#`, `:`, whitespace and
/// control characters become `_`; an empty key becomes `tag`.
///
/// ```
/// use treebeard::metrics::sanitize_tag_key;
/// assert_eq!(sanitize_tag_key("profile_type"), "profile_type");
/// assert_eq!(sanitize_tag_key("a:b|c,d#e f"), "a_b_c_d_e_f");
/// ```
pub fn sanitize_tag_key(key: &str) -> Cow<'_, str> {
    let cow = replace_reserved(key, |c| matches!(c, '|' | ',' | '#' | ':'));
    if cow.is_empty() {
        Cow::Borrowed("tag")
    } else {
        cow
    }
}

/// A tag value DogStatsD cannot misread: `|`, `,`, `#`, whitespace and
/// control characters become `_` (`:` is allowed in values). Truncated so
/// that `key:value` fits in [`MAX_TAG_LEN`].
///
/// ```
/// use treebeard::metrics::sanitize_tag_value;
/// assert_eq!(sanitize_tag_value("/users/{id}"), "/users/{id}");
/// assert_eq!(sanitize_tag_value("a|b,c#d\ne"), "a_b_c_d_e");
/// assert_eq!(sanitize_tag_value("host:8080"), "host:8080");
/// ```
pub fn sanitize_tag_value(value: &str) -> Cow<'_, str> {
    replace_reserved(value, |c| matches!(c, '|' | ',' | '#'))
}

fn replace_reserved(s: &str, reserved: impl Fn(char) -> bool) -> Cow<'_, str> {
    let bad = |c: char| reserved(c) || c.is_whitespace() || c.is_control();
    let too_long = s.len() > MAX_TAG_LEN;
    if !too_long && !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len().min(MAX_TAG_LEN));
    for c in s.chars() {
        if out.len() + c.len_utf8() > MAX_TAG_LEN {
            break;
        }
        out.push(if bad(c) { '_' } else { c });
    }
    Cow::Owned(out)
}

/// Sanitised `metrics` labels from `(key, value)` pairs.
pub(crate) fn labels(tags: &[(&str, &str)]) -> Vec<metrics::Label> {
    tags.iter()
        .map(|(k, v)| {
            metrics::Label::new(
                sanitize_tag_key(k).into_owned(),
                sanitize_tag_value(v).into_owned(),
            )
        })
        .collect()
}

/// Sanitised labels from `DD_TAGS` entries (`key:value`, or a bare value).
// Only the exporters read them.
#[cfg_attr(
    not(any(feature = "dogstatsd", feature = "prometheus")),
    allow(dead_code)
)]
pub(crate) fn constant_labels(tags: &[String]) -> Vec<metrics::Label> {
    tags.iter()
        .map(|tag| match tag.split_once(':') {
            Some((k, v)) => metrics::Label::new(
                sanitize_tag_key(k).into_owned(),
                sanitize_tag_value(v).into_owned(),
            ),
            None => metrics::Label::new(sanitize_tag_key(tag).into_owned(), ""),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_keys_lose_every_dogstatsd_reserved_character() {
        for reserved in ['|', ',', '#', ':', ' ', '\n', '\r', '\t', '\0'] {
            let key = format!("a{reserved}b");
            assert_eq!(sanitize_tag_key(&key), "a_b", "{reserved:?}");
        }
        assert_eq!(sanitize_tag_key(""), "tag");
        assert!(matches!(sanitize_tag_key("endpoint"), Cow::Borrowed(_)));
    }

    #[test]
    fn tag_values_keep_colons_and_lose_separators() {
        for reserved in ['|', ',', '#', ' ', '\n', '\r', '\t', '\u{7f}'] {
            let value = format!("a{reserved}b");
            assert_eq!(sanitize_tag_value(&value), "a_b", "{reserved:?}");
        }
        assert_eq!(sanitize_tag_value("a:b"), "a:b");
        assert_eq!(sanitize_tag_value("café"), "café");
        assert_eq!(sanitize_tag_value(""), "");
        assert!(matches!(
            sanitize_tag_value("/users/{id}/recommendations"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn long_tags_are_truncated_on_a_char_boundary() {
        let long = "é".repeat(150);
        let out = sanitize_tag_value(&long);
        assert!(out.len() <= MAX_TAG_LEN);
        assert!(out.chars().all(|c| c == 'é'));
    }

    #[test]
    fn names_are_made_valid() {
        assert_eq!(
            sanitize_name("treebeard.api.requests"),
            "treebeard.api.requests"
        );
        assert_eq!(sanitize_name("a b|c:d@e#f,g"), "a_b_c_d_e_f_g");
        assert_eq!(sanitize_name("_x"), "m__x");
        assert_eq!(sanitize_name(".x"), "m_.x");
        assert_eq!(sanitize_name(""), "unnamed");
        assert_eq!(sanitize_name("naïve"), "na_ve");
        assert_eq!(sanitize_name(&"x".repeat(300)).len(), MAX_NAME_LEN);
        assert_eq!(
            full_name("treebeard", "cache.hit_rate"),
            "treebeard.cache.hit_rate"
        );
        assert_eq!(full_name("", "cache.hit_rate"), "cache.hit_rate");
    }

    #[test]
    fn namespaces_are_checked() {
        for ok in ["", "treebeard", "acme.billing", "a_1"] {
            assert!(valid_namespace(ok), "{ok}");
        }
        for bad in ["1abc", "a b", "a|b", "a.", ".a", "a:b", "é"] {
            assert!(!valid_namespace(bad), "{bad}");
        }
    }

    #[test]
    fn constant_tags_split_on_the_first_colon() {
        let labels = constant_labels(&["team:core".into(), "url:http://x".into(), "bare".into()]);
        let pairs: Vec<_> = labels.iter().map(|l| (l.key(), l.value())).collect();
        assert_eq!(pairs, [("team", "core"), ("url", "http://x"), ("bare", "")]);
    }
}
