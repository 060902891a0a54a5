//! [`ScrubberBuilder`]: adds user patterns, keys and headers to the defaults
//! and validates them.

use regex::{Regex, RegexSet};

use crate::Scrubber;
use crate::detect::{self, Kind};
use crate::keys::{self, KeyMatcher};
use crate::scrubber::Detector;

/// Field and parameter names whose values are always redacted.
///
/// Matching ignores ASCII case and the separators `-`, `_` and `.`; a name
/// of five characters or more matches anywhere in a key (`user_password`,
/// `x-csrf-token`), a shorter one only as the whole key or its suffix
/// (`mysql_pwd`, but not `pwd_hint`).
pub const DEFAULT_SENSITIVE_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_token",
    "refresh_token",
    "authorization",
    "client_secret",
    "private_key",
    "credit_card",
    "card_number",
    "cvv",
    "cvc",
    "ssn",
    "cookie",
    "session_id",
    "credentials",
];

/// Header names whose values are always redacted (compared ignoring ASCII
/// case). Headers named like a sensitive key (`X-Csrf-Token`) are redacted
/// as well.
pub const DEFAULT_SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// Why a [`ScrubberBuilder`] refused its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A user pattern is not a valid regex.
    #[error("PII pattern `{name}` is not a valid regex: {source}")]
    InvalidPattern {
        /// The name given to the pattern.
        name: String,
        /// What the regex parser said.
        #[source]
        source: Box<regex::Error>,
    },
    /// A pattern name is empty or not made of ASCII letters, digits and `_`.
    #[error("PII pattern name `{name}` must be non-empty ASCII letters, digits or `_`")]
    InvalidPatternName {
        /// The rejected name.
        name: String,
    },
    /// Two patterns were given the same name.
    #[error("PII pattern `{name}` is defined twice")]
    DuplicatePattern {
        /// The repeated name.
        name: String,
    },
    /// A sensitive key is empty or holds characters other than ASCII
    /// letters, digits, `-`, `_` and `.`.
    #[error("sensitive key `{key}` must be ASCII letters, digits, `-`, `_` or `.`")]
    InvalidSensitiveKey {
        /// The rejected key.
        key: String,
    },
    /// A sensitive header name is empty or not an HTTP token.
    #[error("sensitive header `{name}` is not a valid HTTP header name")]
    InvalidSensitiveHeader {
        /// The rejected header name.
        name: String,
    },
    /// The detectors compiled alone but not together (for instance, the
    /// combined automaton exceeds the regex size limit).
    #[error("PII detectors could not be combined: {source}")]
    Combine {
        /// What the regex compiler said.
        #[source]
        source: Box<regex::Error>,
    },
}

/// Builds a [`Scrubber`]: the defaults plus user patterns, keys and headers.
///
/// ```
/// use treebeard_pii::Scrubber;
///
/// # fn main() -> Result<(), treebeard_pii::BuildError> {
/// let scrubber = Scrubber::builder()
///     .with_pattern("employee_id", r"\bEMP-[0-9]{6}\b")?
///     .with_sensitive_key("mothers_maiden_name")
///     .with_sensitive_header("x-internal-token")
///     .build()?;
/// assert_eq!(scrubber.scrub("by EMP-123456"), "by [EMPLOYEE_ID]");
/// assert_eq!(scrubber.scrub("mothers_maiden_name=Smith"), "mothers_maiden_name=[REDACTED]");
/// assert!(scrubber.is_sensitive_header("X-Internal-Token"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ScrubberBuilder {
    patterns: Vec<(String, Regex)>,
    keys: Vec<String>,
    headers: Vec<String>,
}

impl ScrubberBuilder {
    /// Starts from the defaults ([`DEFAULT_SENSITIVE_KEYS`],
    /// [`DEFAULT_SENSITIVE_HEADERS`] and the built-in detectors).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a regex whose matches are replaced by `[NAME]` (the name in
    /// upper case). User patterns take precedence over built-in detectors
    /// starting at the same position.
    ///
    /// The name must be ASCII letters, digits or `_`; the error names the
    /// pattern when the name or the regex is invalid.
    pub fn with_pattern(mut self, name: &str, regex: &str) -> Result<Self, BuildError> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(BuildError::InvalidPatternName {
                name: name.to_owned(),
            });
        }
        if self
            .patterns
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            return Err(BuildError::DuplicatePattern {
                name: name.to_owned(),
            });
        }
        let compiled = Regex::new(regex).map_err(|source| BuildError::InvalidPattern {
            name: name.to_owned(),
            source: Box::new(source),
        })?;
        self.patterns.push((name.to_owned(), compiled));
        Ok(self)
    }

    /// Adds a key name whose values are redacted in text, query strings,
    /// form bodies and JSON (matched like [`DEFAULT_SENSITIVE_KEYS`]).
    /// Validated by [`build`](Self::build).
    pub fn with_sensitive_key(mut self, key: &str) -> Self {
        self.keys.push(key.to_owned());
        self
    }

    /// Adds a header name whose values are always redacted.
    /// Validated by [`build`](Self::build).
    pub fn with_sensitive_header(mut self, name: &str) -> Self {
        self.headers.push(name.to_owned());
        self
    }

    /// Validates the configuration and compiles the detectors.
    pub fn build(self) -> Result<Scrubber, BuildError> {
        if let Some(key) = self.keys.iter().find(|k| !keys::is_valid_name(k)) {
            return Err(BuildError::InvalidSensitiveKey { key: key.clone() });
        }
        if let Some(name) = self.headers.iter().find(|h| !is_header_name(h)) {
            return Err(BuildError::InvalidSensitiveHeader { name: name.clone() });
        }
        let keys = KeyMatcher::new(
            DEFAULT_SENSITIVE_KEYS
                .iter()
                .copied()
                .chain(self.keys.iter().map(String::as_str)),
        );
        let mut headers: Vec<String> = DEFAULT_SENSITIVE_HEADERS
            .iter()
            .copied()
            .chain(self.headers.iter().map(String::as_str))
            .map(str::to_ascii_lowercase)
            .collect();
        headers.sort();
        headers.dedup();

        let combine = |source| BuildError::Combine {
            source: Box::new(source),
        };
        let mut detectors = Vec::new();
        for (index, (name, regex)) in self.patterns.into_iter().enumerate() {
            detectors.push(Detector {
                kind: Kind::Custom(index),
                marker: format!("[{}]", name.to_ascii_uppercase()),
                regex,
            });
        }
        for builtin in detect::builtin(keys.names()) {
            detectors.push(Detector {
                kind: builtin.kind,
                marker: builtin.marker.to_owned(),
                regex: Regex::new(&builtin.source).map_err(combine)?,
            });
        }
        let set = RegexSet::new(detectors.iter().map(|d| d.regex.as_str())).map_err(combine)?;
        Ok(Scrubber::from_parts(detectors, set, keys, headers))
    }
}

/// Whether `name` is an HTTP header name (an RFC 9110 token).
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}
