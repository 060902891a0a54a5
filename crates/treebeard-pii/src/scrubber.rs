//! [`Scrubber`]: finds PII in text and replaces it with markers.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

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
    /// Tells this scrubber's entries of the clean-text cache from other
    /// scrubbers' (clones share it: same detectors).
    id: u64,
}

/// Clean texts up to this many bytes are remembered, per thread.
const CLEAN_MAX_LEN: usize = 192;

/// Slots of the per-thread clean-text cache (direct-mapped by hash).
const CLEAN_SLOTS: usize = 64;

/// The next [`Scrubber`]'s cache identity.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Texts found clean, by hash slot, with the scrubber that found them.
    /// The same user agents, paths and messages come back request after
    /// request, and a hit costs a hash and a compare instead of the
    /// detectors' scan (about a fifth). Slots reuse their buffers: no
    /// allocation once warm.
    static CLEAN: RefCell<Vec<(u64, String)>> = const { RefCell::new(Vec::new()) };
}

/// The cache slot of `s`: a multiply-xor hash over 8-byte words.
fn clean_slot(s: &str) -> usize {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = s.len() as u64;
    let mut words = s.as_bytes().chunks_exact(8);
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let mut tail = [0u8; 8];
    tail[..words.remainder().len()].copy_from_slice(words.remainder());
    h = (h.rotate_left(5) ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    (h >> 58) as usize % CLEAN_SLOTS
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
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Whether this scrubber found `s` clean before, on this thread.
    fn known_clean(&self, slot: usize, s: &str) -> bool {
        CLEAN
            .try_with(|cache| {
                cache
                    .try_borrow()
                    .ok()
                    .and_then(|cache| {
                        cache
                            .get(slot)
                            .map(|(id, text)| *id == self.id && text == s)
                    })
                    .unwrap_or(false)
            })
            .unwrap_or(false)
    }

    /// Remembers that `s` is clean for this scrubber, on this thread.
    fn remember_clean(&self, slot: usize, s: &str) {
        let _ = CLEAN.try_with(|cache| {
            let Ok(mut cache) = cache.try_borrow_mut() else {
                return;
            };
            if cache.is_empty() {
                cache.resize_with(CLEAN_SLOTS, || (0, String::new()));
            }
            if let Some((id, text)) = cache.get_mut(slot) {
                *id = self.id;
                text.clear();
                text.push_str(s);
            }
        });
    }

    /// Replaces the PII in `s` with markers.
    ///
    /// Returns `s` borrowed when nothing matched, which costs one pass of
    /// a DFA over the text and no allocation; clean texts up to 192 bytes
    /// are remembered per thread (64 of them), so the user agents and
    /// paths that come back request after request cost a hash and a
    /// compare. Scrubbing is idempotent:
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
        let slot = (s.len() <= CLEAN_MAX_LEN).then(|| clean_slot(s));
        if let Some(slot) = slot
            && self.known_clean(slot, s)
        {
            return Cow::Borrowed(s);
        }
        let Some((mut out, mut unsettled)) = self.scrub_once(s) else {
            if let Some(slot) = slot {
                self.remember_clean(slot, s);
            }
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
    let Ok(b) = <&[u8; 36]>::try_from(s.as_bytes()) else {
        return false;
    };
    // The four groups' dashes, then every other byte a hex digit: one
    // table load and no index match per byte (request IDs come here twice
    // a request).
    b[8] == b'-'
        && b[13] == b'-'
        && b[18] == b'-'
        && b[23] == b'-'
        && [&b[..8], &b[9..13], &b[14..18], &b[19..23], &b[24..]]
            .iter()
            .all(|group| group.iter().all(|c| HEX_DIGIT[usize::from(*c)]))
}

/// Which bytes are ASCII hex digits.
static HEX_DIGIT: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = (i as u8).is_ascii_hexdigit();
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_build() {
        assert!(ScrubberBuilder::new().build().is_ok());
    }

    #[test]
    fn clean_texts_remembered_by_one_scrubber_are_scanned_by_another() {
        let default = Scrubber::global();
        let strict = Scrubber::builder()
            .with_pattern("order", r"ORD-\d+")
            .unwrap()
            .build()
            .unwrap();
        for _ in 0..3 {
            assert!(matches!(
                default.scrub("order ORD-123456789"),
                Cow::Borrowed(_)
            ));
            assert_eq!(strict.scrub("order ORD-123456789"), "order [ORDER]");
        }
        // A clone shares the verdicts: it has the same detectors.
        let clone = strict.clone();
        assert_eq!(clone.scrub("order ORD-123456789"), "order [ORDER]");
    }

    #[test]
    fn the_clean_text_cache_never_changes_a_result() {
        // Many texts, clean and not, share the 64 slots; each is scrubbed
        // three times and must give what the detectors give.
        let scrubber = Scrubber::global();
        let texts: Vec<String> = (0..500)
            .map(|i| match i % 4 {
                0 => format!("/users/{i}"),
                1 => format!("user{i}@example.com"),
                2 => format!("Mozilla/5.0 build {i} (X11; Linux x86_64)"),
                _ => format!("call +44 20 7946 {:04}", i % 10_000),
            })
            .collect();
        for round in 0..3 {
            for text in &texts {
                let expected = scrubber.scrub_once(text).map(|(out, _)| out);
                let got = scrubber.scrub(text);
                match expected {
                    None => assert!(matches!(got, Cow::Borrowed(_)), "{round}: {text}"),
                    Some(out) => assert_eq!(got, scrubber.scrub(&out), "{round}: {text}"),
                }
            }
        }
        // Longer texts are not remembered, and still scrubbed.
        let long = format!("{} bob@example.com", "x".repeat(CLEAN_MAX_LEN));
        assert!(scrubber.scrub(&long).ends_with("[EMAIL]"));
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
        // Every position, every byte: the same verdict as the definition.
        let reference = |b: &[u8]| {
            b.len() == 36
                && b.iter().enumerate().all(|(i, c)| match i {
                    8 | 13 | 18 | 23 => *c == b'-',
                    _ => c.is_ascii_hexdigit(),
                })
        };
        for i in 0..36 {
            for byte in 0..128u8 {
                let mut b = id.as_bytes().to_vec();
                b[i] = byte;
                let s = String::from_utf8(b).unwrap();
                assert_eq!(is_uuid(&s), reference(s.as_bytes()), "{s:?}");
            }
        }
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
