//! Matching of field, parameter and header names against the sensitive-key list.
//!
//! Names are compared after normalisation: ASCII lower case with `-`, `_`
//! and `.` removed, so `API_KEY`, `api-key`, `apiKey` and `x.api.key` all
//! contain `apikey`. A name of five characters or more matches anywhere in
//! the key (`user_password`, `csrf_token`, `client_secret_v2`); a shorter
//! one (`pwd`, `cvv`, `ssn`) only as the whole key or its suffix, so that
//! `classname` is not taken for an `ssn`.

/// Names shorter than this only match as the whole key or its suffix.
const SUBSTRING_MIN_LEN: usize = 5;

/// Keys longer than this are normalised on the heap instead of the stack.
const STACK_KEY_LEN: usize = 96;

/// The normalised sensitive names and the matching rule.
#[derive(Debug, Clone)]
pub(crate) struct KeyMatcher {
    names: Vec<String>,
}

/// Whether `b` is dropped by normalisation.
fn is_separator(b: u8) -> bool {
    matches!(b, b'-' | b'_' | b'.')
}

/// Normalises a configured name: lower case, separators removed.
pub(crate) fn normalize(name: &str) -> String {
    name.bytes()
        .filter(|b| !is_separator(*b))
        .map(|b| char::from(b.to_ascii_lowercase()))
        .collect()
}

/// Whether `name` can be configured as a sensitive key: ASCII letters,
/// digits and separators, with at least one letter or digit.
pub(crate) fn is_valid_name(name: &str) -> bool {
    name.bytes().any(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || is_separator(b))
}

/// The bytes of `key` that take part in matching: separators and markers
/// left by an earlier scrub (`[TOKEN]`) are skipped, so a key that was
/// scrubbed is judged as it was before (which keeps scrubbing idempotent).
fn key_bytes(key: &str) -> impl Iterator<Item = u8> + '_ {
    let mut in_marker = false;
    key.bytes().filter(move |&b| {
        match b {
            b'[' => in_marker = true,
            b']' if in_marker => {
                in_marker = false;
                return false;
            }
            _ => {}
        }
        !in_marker && !is_separator(b)
    })
}

impl KeyMatcher {
    /// Builds a matcher from already validated names (duplicates removed).
    pub(crate) fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut normalized: Vec<String> = names.into_iter().map(normalize).collect();
        normalized.sort();
        normalized.dedup();
        Self { names: normalized }
    }

    /// The normalised names, for building the key-value regex.
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether `key` names a secret. Never allocates for keys up to
    /// [`STACK_KEY_LEN`] bytes, since JSON scrubbing calls it per key.
    pub(crate) fn is_sensitive(&self, key: &str) -> bool {
        let mut stack = [0u8; STACK_KEY_LEN];
        let heap: Vec<u8>;
        let normalized: &[u8] = if key.len() <= STACK_KEY_LEN {
            let mut len = 0;
            for b in key_bytes(key) {
                if let Some(slot) = stack.get_mut(len) {
                    *slot = b.to_ascii_lowercase();
                    len += 1;
                }
            }
            stack.get(..len).unwrap_or_default()
        } else {
            heap = key_bytes(key).map(|b| b.to_ascii_lowercase()).collect();
            &heap
        };
        self.names.iter().any(|name| {
            let name = name.as_bytes();
            if name.len() >= SUBSTRING_MIN_LEN {
                normalized.windows(name.len()).any(|w| w == name)
            } else {
                normalized.ends_with(name)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher() -> KeyMatcher {
        KeyMatcher::new(["password", "api_key", "pwd", "ssn", "token"])
    }

    #[test]
    fn matches_case_and_separator_insensitively() {
        let m = matcher();
        for key in [
            "password",
            "PASSWORD",
            "Password",
            "user_password",
            "db-password",
            "passwordConfirmation",
            "api_key",
            "API-KEY",
            "apiKey",
            "x-api-key",
            "x.api.key",
            "mysql_pwd",
            "PWD",
            "ssn",
            "user_ssn",
            "csrf_token",
        ] {
            assert!(m.is_sensitive(key), "{key} should be sensitive");
        }
    }

    #[test]
    fn leaves_other_keys_alone() {
        let m = matcher();
        for key in [
            "user",
            "email",
            "classname",
            "ssn_hint",
            "pwd_hint",
            "cache_key",
            "key",
            "",
        ] {
            assert!(!m.is_sensitive(key), "{key} should not be sensitive");
        }
    }

    #[test]
    fn markers_in_keys_are_ignored() {
        let m = matcher();
        assert!(!m.is_sensitive("[TOKEN]"));
        assert!(!m.is_sensitive("[PASSWORD]"));
        assert!(m.is_sensitive("[EMAIL]_password"));
    }

    #[test]
    fn long_keys_use_the_heap_path() {
        let m = matcher();
        let long = format!("{}_password", "x".repeat(200));
        assert!(m.is_sensitive(&long));
        assert!(!m.is_sensitive(&"y".repeat(300)));
    }

    #[test]
    fn validates_names() {
        assert!(is_valid_name("x-internal-token"));
        assert!(is_valid_name("ssn"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("--"));
        assert!(!is_valid_name("has space"));
        assert!(!is_valid_name("quote\""));
    }
}
