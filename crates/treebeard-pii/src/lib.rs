//! The one PII scrubber of TreeBeard Monitoring.
//!
//! Everything that leaves the process — JSON log lines, span tags, Sentry
//! events, alert texts — goes through a [`Scrubber`], so personal data and
//! secrets are removed the same way on every output.
//!
//! ```
//! use treebeard_pii::Scrubber;
//!
//! let scrubber = Scrubber::global();
//! let line = "login failed for bob@example.com from +1 (555) 123-4567, \
//!             card 4111-1111-1111-1111, password=hunter2";
//! assert_eq!(
//!     scrubber.scrub(line),
//!     "login failed for [EMAIL] from [PHONE], card [CARD], password=[REDACTED]",
//! );
//!
//! // Ordinary numbers, IDs and addresses are left alone, without allocating.
//! let clean = "order ORD-123456789 (4111-1111-1111-1112) at 2026-11-27 from 127.0.0.1:8080";
//! assert!(matches!(scrubber.scrub(clean), std::borrow::Cow::Borrowed(_)));
//! ```
//!
//! # What is scrubbed, and the markers
//!
//! | Finding | Replaced by |
//! | --- | --- |
//! | values of sensitive keys in `key=value`, `key: value`, `"key": "value"`, query strings, form bodies and JSON ([`DEFAULT_SENSITIVE_KEYS`]) | [`markers::REDACTED`] |
//! | values of sensitive headers ([`DEFAULT_SENSITIVE_HEADERS`]) | [`markers::REDACTED`] |
//! | the password in `scheme://user:password@host` | [`markers::REDACTED`] |
//! | e-mail addresses | [`markers::EMAIL`] |
//! | phone numbers: `+` international, North American, `0…` national | [`markers::PHONE`] |
//! | card numbers: 13–19 digits, spaces or dashes allowed, Luhn-valid, first digit 2–6 | [`markers::CARD`] |
//! | `Bearer` credentials, JWTs, Stripe `sk_`/`rk_` keys, Slack `xox?-`, AWS `AKIA`/`ASIA` key IDs, GitHub `gh?_`/`github_pat_`, Google `AIza` keys | [`markers::TOKEN`] |
//! | matches of a user pattern named `name` | `[NAME]` |
//!
//! Left alone on purpose: IP addresses, ports, UUIDs, dates and times,
//! order and other IDs, Luhn-invalid digit runs, numbers glued to letters
//! or joined by `-`/`.` to a longer identifier.
//!
//! Scrubbing is idempotent, never panics, and returns the input borrowed
//! when it is clean. The detectors are one [`regex::RegexSet`]: clean text
//! costs a single DFA pass (see `docs/privacy.md` for measured numbers).
//!
//! # Extending
//!
//! [`Scrubber::builder`] adds patterns, keys and headers to the defaults:
//! see [`ScrubberBuilder`]. User IDs are anonymised with [`hash_user_id`].
#![forbid(unsafe_code)]

mod builder;
mod detect;
mod hash;
mod json;
mod keys;
mod scrubber;
mod splice;
mod url;

pub use builder::{BuildError, DEFAULT_SENSITIVE_HEADERS, DEFAULT_SENSITIVE_KEYS, ScrubberBuilder};
pub use hash::hash_user_id;
pub use scrubber::Scrubber;

/// The texts that replace what was scrubbed.
///
/// They are chosen so that no detector matches them: scrubbing scrubbed
/// text changes nothing.
pub mod markers {
    /// A value redacted because of its key or header name, or a URL password.
    pub const REDACTED: &str = "[REDACTED]";
    /// An e-mail address.
    pub const EMAIL: &str = "[EMAIL]";
    /// A phone number.
    pub const PHONE: &str = "[PHONE]";
    /// A payment card number.
    pub const CARD: &str = "[CARD]";
    /// An API key, access token, JWT or bearer credential.
    pub const TOKEN: &str = "[TOKEN]";
}
