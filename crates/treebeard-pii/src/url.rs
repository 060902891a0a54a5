//! Scrubbing of URLs and query strings (also `application/x-www-form-urlencoded`
//! bodies, which share the syntax).

use std::borrow::Cow;

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use crate::splice::Splice;
use crate::{Scrubber, markers};

/// What is re-encoded after a decoded component was scrubbed: what would
/// change the query's structure. Marker brackets stay readable.
const COMPONENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'?');

/// How `+` is read in a component.
#[derive(Clone, Copy)]
enum Plus {
    /// In a query or form body `+` is a space.
    Space,
    /// In a path it is itself.
    Literal,
}

impl Scrubber {
    /// Scrubs a URL query string or form body (`a=1&b=2`, with or without
    /// the leading `?`).
    ///
    /// Values of sensitive keys become `[REDACTED]`; other keys and values
    /// are percent-decoded, scrubbed like text and re-encoded if anything
    /// was found. Untouched pairs keep their exact bytes.
    ///
    /// ```
    /// # use treebeard_pii::Scrubber;
    /// let s = Scrubber::global();
    /// assert_eq!(
    ///     s.scrub_query("?user=bob%40example.com&Password=p%40ss&page=2"),
    ///     "?user=[EMAIL]&Password=[REDACTED]&page=2",
    /// );
    /// ```
    pub fn scrub_query<'a>(&self, query: &'a str) -> Cow<'a, str> {
        let mut splice = Splice::new(query);
        let mut offset = usize::from(query.starts_with('?'));
        for pair in query.get(offset..).unwrap_or_default().split('&') {
            let (start, end) = (offset, offset + pair.len());
            offset = end + 1;
            if let Some(clean) = self.scrub_pair(pair) {
                splice.replace(start, end, &clean);
            }
        }
        splice.finish()
    }

    /// Scrubs a URL: the password of its userinfo becomes `[REDACTED]`,
    /// the user name and path are scrubbed like text, and the query and
    /// fragment like [`scrub_query`](Self::scrub_query) (OAuth puts tokens
    /// in fragments). The host is left alone. Relative URLs work too.
    ///
    /// ```
    /// # use treebeard_pii::Scrubber;
    /// let s = Scrubber::global();
    /// assert_eq!(
    ///     s.scrub_url("https://admin:s3cret@db.internal:5432/users/bob@example.com?token=abc#x"),
    ///     "https://admin:[REDACTED]@db.internal:5432/users/[EMAIL]?token=[REDACTED]#x",
    /// );
    /// assert_eq!(s.scrub_url("/callback#access_token=xyz"), "/callback#access_token=[REDACTED]");
    /// ```
    pub fn scrub_url<'a>(&self, url: &'a str) -> Cow<'a, str> {
        let mut splice = Splice::new(url);
        let fragment_at = url.find('#').unwrap_or(url.len());
        let query_at = url
            .get(..fragment_at)
            .and_then(|u| u.find('?'))
            .unwrap_or(fragment_at);

        let mut path_start = 0;
        if let Some(scheme_end) = url.get(..query_at).and_then(|u| u.find("://")) {
            let scheme = url.get(..scheme_end).unwrap_or_default();
            let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
            if is_scheme {
                let authority_start = scheme_end + 3;
                path_start = url
                    .get(authority_start..query_at)
                    .and_then(|a| a.find('/'))
                    .map_or(query_at, |n| authority_start + n);
                let authority = url.get(authority_start..path_start).unwrap_or_default();
                if let Some(at) = authority.rfind('@') {
                    let userinfo = authority.get(..at).unwrap_or_default();
                    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                    if let Cow::Owned(clean) = self.scrub_component(user, Plus::Literal) {
                        splice.replace(authority_start, authority_start + user.len(), &clean);
                    }
                    if !password.is_empty() && password != markers::REDACTED {
                        let start = authority_start + user.len() + 1;
                        splice.replace(start, authority_start + at, markers::REDACTED);
                    }
                }
            }
        }
        let path = url.get(path_start..query_at).unwrap_or_default();
        if let Cow::Owned(clean) = self.scrub_component(path, Plus::Literal) {
            splice.replace(path_start, query_at, &clean);
        }
        for (start, end) in [(query_at, fragment_at), (fragment_at, url.len())] {
            // Skip the `?` or `#` itself.
            let part = url.get(start + 1..end).unwrap_or_default();
            if let Cow::Owned(clean) = self.scrub_query(part) {
                splice.replace(start + 1, end, &clean);
            }
        }
        splice.finish()
    }

    /// A scrubbed `key=value` pair, or `None` when it is clean.
    fn scrub_pair(&self, pair: &str) -> Option<String> {
        let Some((key, value)) = pair.split_once('=') else {
            return match self.scrub_component(pair, Plus::Space) {
                Cow::Owned(clean) => Some(clean),
                Cow::Borrowed(_) => None,
            };
        };
        if self.is_sensitive_key(&decode(key, Plus::Space)) {
            return (!value.is_empty() && value != markers::REDACTED)
                .then(|| format!("{key}={}", markers::REDACTED));
        }
        let clean_key = self.scrub_component(key, Plus::Space);
        let clean_value = self.scrub_component(value, Plus::Space);
        match (&clean_key, &clean_value) {
            (Cow::Borrowed(_), Cow::Borrowed(_)) => None,
            _ => Some(format!("{clean_key}={clean_value}")),
        }
    }

    /// Scrubs one percent-encoded component, decoding it first when needed.
    fn scrub_component<'a>(&self, raw: &'a str, plus: Plus) -> Cow<'a, str> {
        let encoded = raw.contains('%') || (matches!(plus, Plus::Space) && raw.contains('+'));
        if !encoded {
            return self.scrub(raw);
        }
        match self.scrub(&decode(raw, plus)) {
            Cow::Owned(clean) => Cow::Owned(utf8_percent_encode(&clean, COMPONENT).to_string()),
            Cow::Borrowed(_) => Cow::Borrowed(raw),
        }
    }
}

/// Percent-decodes a component (invalid UTF-8 replaced).
fn decode(raw: &str, plus: Plus) -> Cow<'_, str> {
    let spaced: Cow<'_, str> = match plus {
        Plus::Space if raw.contains('+') => Cow::Owned(raw.replace('+', " ")),
        _ => Cow::Borrowed(raw),
    };
    if !spaced.contains('%') {
        return spaced;
    }
    Cow::Owned(percent_decode_str(&spaced).decode_utf8_lossy().into_owned())
}
