//! [`Scrubber`]: finds PII in text and replaces it with markers.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::{Regex, RegexSet};

use crate::builder::ScrubberBuilder;
use crate::detect::{self, Kind};
use crate::keys::KeyMatcher;
use crate::markers;

/// One compiled detector: built-in or user pattern.
#[derive(Debug, Clone)]
pub(crate) struct Detector {
    pub(crate) kind: Kind,
    pub(crate) marker: String,
    pub(crate) regex: Regex,
}

/// At most this many passes over text that keeps changing (see
/// `Scrubber::scrub_once`); real text settles in two.
const MAX_PASSES: usize = 8;

/// A byte range to replace, with its marker and the detector's priority.
struct Span<'d> {
    start: usize,
    end: usize,
    priority: usize,
    marker: &'d str,
}

/// The PII scrubber applied to every output: log lines, span tags, Sentry
/// events and alert texts.
///
/// Build one with [`Scrubber::builder`], or use [`Scrubber::global`] for the
/// defaults. It is cheap to share (`Send + Sync`, scrubbing takes `&self`);
/// cloning copies the compiled regexes.
///
/// See the [crate documentation](crate) for what is detected and the
/// markers that replace it.
#[derive(Debug, Clone)]
pub struct Scrubber {
    detectors: Vec<Detector>,
    /// All detectors in one automaton: a single pass over clean text.
    set: RegexSet,
    keys: KeyMatcher,
    /// Lower-case header names.
    headers: Vec<String>,
    /// No user patterns: canonical UUIDs need no scan (see [`is_uuid`]).
    skip_uuids: bool,
}

impl Default for Scrubber {
    /// The scrubber with the default keys, headers and detectors.
    ///
    /// # Panics
    ///
    /// Never in practice: the built-in detectors are constants and a unit
    /// test compiles them. Use [`ScrubberBuilder::build`] to get the error
    /// instead.
    fn default() -> Self {
        #[allow(clippy::expect_used)] // constant patterns, covered by `defaults_build`
        ScrubberBuilder::new()
            .build()
            .expect("the built-in PII detectors compile")
    }
}

impl Scrubber {
    /// Starts a [`ScrubberBuilder`] holding the defaults.
    pub fn builder() -> ScrubberBuilder {
        ScrubberBuilder::new()
    }

    /// A process-wide scrubber with the default configuration, built on
    /// first use.
    ///
    /// ```
    /// let clean = treebeard_pii::Scrubber::global().scrub("call +44 20 7946 0958");
    /// assert_eq!(clean, "call [PHONE]");
    /// ```
    pub fn global() -> &'static Scrubber {
        static GLOBAL: OnceLock<Scrubber> = OnceLock::new();
        GLOBAL.get_or_init(Scrubber::default)
    }

    pub(crate) fn from_parts(
        detectors: Vec<Detector>,
        set: RegexSet,
        keys: KeyMatcher,
        headers: Vec<String>,
    ) -> Self {
        let skip_uuids = !detectors
            .iter()
            .any(|d| matches!(d.kind, crate::detect::Kind::Custom(_)));
        Self {
            detectors,
            set,
            keys,
            headers,
            skip_uuids,
        }
    }

    /// Replaces the PII in `s` with markers.
    ///
    /// Returns `s` borrowed when nothing matched, which costs one pass of
    /// a DFA over the text and no allocation. Scrubbing is idempotent:
    /// `scrub(scrub(s)) == scrub(s)`.
    ///
    /// ```
    /// # use treebeard_pii::Scrubber;
    /// # use std::borrow::Cow;
    /// let s = Scrubber::global();
    /// assert_eq!(s.scrub("mail bob@example.com"), "mail [EMAIL]");
    /// assert_eq!(s.scrub("password=hunter2&page=2"), "password=[REDACTED]&page=2");
    /// assert!(matches!(s.scrub("GET /orders/ORD-123456789 200"), Cow::Borrowed(_)));
    /// ```
    pub fn scrub<'a>(&self, s: &'a str) -> Cow<'a, str> {
        if self.skip_uuids && is_uuid(s) {
            return Cow::Borrowed(s);
        }
        let Some((mut out, mut unsettled)) = self.scrub_once(s) else {
            return Cow::Borrowed(s);
        };
        let mut passes = 1;
        while unsettled && passes < MAX_PASSES {
            let Some((next, still_unsettled)) = self.scrub_once(&out) else {
                break;
            };
            out = next;
            unsettled = still_unsettled;
            passes += 1;
        }
        Cow::Owned(out)
    }

    /// One pass: the scrubbed text (`None` when nothing was replaced) and
    /// whether another pass could find more.
    ///
    /// A candidate rejected for its surroundings (a number glued to an
    /// identifier) can stand alone once a finding next to or overlapping
    /// it was replaced, so the text is scanned again until it is stable;
    /// that is what makes `scrub` idempotent. It only happens when a pass
    /// both replaced something and rejected a candidate.
    fn scrub_once(&self, s: &str) -> Option<(String, bool)> {
        if s.is_empty() || !self.set.is_match(s) {
            return None;
        }
        let mut spans = Vec::new();
        let mut rejected = false;
        for index in self.set.matches(s).iter() {
            if let Some(detector) = self.detectors.get(index) {
                rejected |= self.collect(index, detector, s, &mut spans);
            }
        }
        if spans.is_empty() {
            return None;
        }
        spans.sort_unstable_by_key(|span| (span.start, span.priority));

        let mut out = String::with_capacity(s.len());
        let mut copied = 0;
        let mut spans = spans.into_iter().peekable();
        while let Some(first) = spans.next() {
            // Overlapping findings are replaced as one, so nothing of either leaks.
            let mut end = first.end;
            while let Some(next) = spans.next_if(|next| next.start < end) {
                end = end.max(next.end);
            }
            out.push_str(s.get(copied..first.start).unwrap_or_default());
            out.push_str(first.marker);
            copied = end;
        }
        out.push_str(s.get(copied..).unwrap_or_default());
        Some((out, rejected))
    }

    /// Adds the findings of one detector to `spans`; returns whether any
    /// candidate was rejected by a check.
    fn collect<'d>(
        &'d self,
        priority: usize,
        detector: &'d Detector,
        s: &str,
        spans: &mut Vec<Span<'d>>,
    ) -> bool {
        let mut rejected = false;
        let mut push = |found: Option<(usize, usize)>| match found {
            Some((start, end)) if start < end => spans.push(Span {
                start,
                end,
                priority,
                marker: &detector.marker,
            }),
            _ => rejected = true,
        };
        match detector.kind {
            Kind::KeyValue => {
                // `find_iter` and `key_of` instead of capture groups: a
                // third of the cost on a line with `password=`.
                for m in detector.regex.find_iter(s) {
                    push(
                        self.keys
                            .is_sensitive(detect::key_of(m.as_str()))
                            .then(|| detect::value_span(s, m.end()))
                            .flatten(),
                    );
                }
            }
            Kind::UrlPassword | Kind::Bearer => {
                for caps in detector.regex.captures_iter(s) {
                    let secret = caps.get(1).filter(|secret| {
                        detector.kind != Kind::Bearer || detect::bearer_valid(secret.as_str())
                    });
                    push(secret.map(|m| (m.start(), m.end())));
                }
            }
            Kind::Card => {
                for m in detector.regex.find_iter(s) {
                    push(detect::card_span(s, m.start(), m.end()));
                }
            }
            Kind::Phone => {
                for m in detector.regex.find_iter(s) {
                    let valid = detect::phone_valid(s, m.start(), m.end());
                    push(valid.then_some((m.start(), m.end())));
                }
            }
            Kind::Token => {
                for m in detector.regex.find_iter(s) {
                    let valid = detect::standalone(s, m.start(), m.end());
                    push(valid.then_some((m.start(), m.end())));
                }
            }
            Kind::Custom(_) | Kind::Email => {
                for m in detector.regex.find_iter(s) {
                    push(Some((m.start(), m.end())));
                }
            }
        }
        rejected
    }

    /// Whether the values of a field, parameter or JSON key with this name
    /// are redacted whole. See [`DEFAULT_SENSITIVE_KEYS`](crate::DEFAULT_SENSITIVE_KEYS)
    /// for the matching rule.
    ///
    /// ```
    /// # use treebeard_pii::Scrubber;
    /// assert!(Scrubber::global().is_sensitive_key("Client-Secret"));
    /// assert!(!Scrubber::global().is_sensitive_key("user_id"));
    /// ```
    pub fn is_sensitive_key(&self, key: &str) -> bool {
        self.keys.is_sensitive(key)
    }

    /// Whether a header's value is always redacted: one of
    /// [`DEFAULT_SENSITIVE_HEADERS`](crate::DEFAULT_SENSITIVE_HEADERS), a
    /// header added with
    /// [`with_sensitive_header`](ScrubberBuilder::with_sensitive_header), or
    /// a header named like a sensitive key (`X-Csrf-Token`). Case-insensitive.
    ///
    /// ```
    /// # use treebeard_pii::Scrubber;
    /// assert!(Scrubber::global().is_sensitive_header("Set-Cookie"));
    /// assert!(!Scrubber::global().is_sensitive_header("Content-Type"));
    /// ```
    pub fn is_sensitive_header(&self, name: &str) -> bool {
        self.headers.iter().any(|h| h.eq_ignore_ascii_case(name)) || self.keys.is_sensitive(name)
    }

    /// The value to record for header `name`: [`markers::REDACTED`] for a
    /// sensitive header, otherwise the value scrubbed like any text.
    ///
    /// ```
    /// # use treebeard_pii::Scrubber;
    /// let s = Scrubber::global();
    /// assert_eq!(s.scrub_header_value("Authorization", "Bearer abc"), "[REDACTED]");
    /// assert_eq!(s.scrub_header_value("From", "bob@example.com"), "[EMAIL]");
    /// assert_eq!(s.scrub_header_value("Accept", "*/*"), "*/*");
    /// ```
    pub fn scrub_header_value<'a>(&self, name: &str, value: &'a str) -> Cow<'a, str> {
        if self.is_sensitive_header(name) {
            Cow::Borrowed(markers::REDACTED)
        } else {
            self.scrub(value)
        }
    }
}

/// A canonical UUID (`8-4-4-4-12` hex digits), such as a generated request
/// ID: none of the built-in detectors can match inside one, and its digit
/// runs would otherwise send it through the slow path as a phone or card
/// candidate. A user pattern might target them, so it is only a shortcut
/// without user patterns.
fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_build() {
        assert!(ScrubberBuilder::new().build().is_ok());
    }

    #[test]
    fn scrubber_is_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Scrubber>();
    }

    #[test]
    fn uuids_pass_unless_a_user_pattern_targets_them() {
        let id = "55512345-6789-4abc-8def-012345678901";
        assert!(matches!(Scrubber::global().scrub(id), Cow::Borrowed(_)));
        assert!(!is_uuid("55512345-6789-4abc-8def-01234567890"));
        assert!(!is_uuid("55512345x6789-4abc-8def-012345678901"));
        let custom = Scrubber::builder()
            .with_pattern("trace_ref", "[0-9a-f]{8}-[0-9a-f]{4}")
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(custom.scrub(id), "[TRACE_REF]-4abc-8def-012345678901");
    }

    #[test]
    fn overlapping_findings_are_replaced_once() {
        let s = Scrubber::global();
        assert_eq!(
            s.scrub("token=sk_live_abcdefghijklmnop"),
            "token=[REDACTED]"
        );
        assert_eq!(
            s.scrub("Authorization: Bearer abc123def456"),
            "Authorization: [REDACTED]"
        );
    }
}
