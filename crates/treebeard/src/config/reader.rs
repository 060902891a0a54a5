//! Typed parsing of raw values, collecting every error instead of stopping
//! at the first.

use std::str::FromStr;

use super::error::{InvalidVariable, redact};
use super::source::ConfigSource;
use super::vars::Variable;

/// Reads variables from a source, recording each invalid one.
pub(crate) struct Reader<'a> {
    source: &'a dyn ConfigSource,
    pub(crate) invalid: Vec<InvalidVariable>,
}

/// Accepted spellings of booleans, as DataDog's tracers accept them.
const TRUE: &[&str] = &["true", "1", "yes", "on"];
const FALSE: &[&str] = &["false", "0", "no", "off"];

impl<'a> Reader<'a> {
    pub(crate) fn new(source: &'a dyn ConfigSource) -> Self {
        Self {
            source,
            invalid: Vec::new(),
        }
    }

    /// The trimmed value, `None` when unset or blank (blank means unset, as
    /// in DataDog's tracers, so `FOO=` in a `.env` file does not fail).
    pub(crate) fn raw(&self, var: Variable) -> Option<String> {
        self.source.value(var)
    }

    pub(crate) fn invalid(&mut self, var: Variable, value: &str, expected: impl Into<String>) {
        let value = if var.secret {
            redact(value)
        } else {
            value.to_owned()
        };
        self.invalid.push(InvalidVariable {
            name: var.name,
            value,
            expected: expected.into(),
        });
    }

    /// Parses with `parse`, recording an error with `expected` on failure.
    pub(crate) fn parse<T>(
        &mut self,
        var: Variable,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        let raw = self.raw(var)?;
        let parsed = parse(&raw);
        if parsed.is_none() {
            self.invalid(var, &raw, expected);
        }
        parsed
    }

    pub(crate) fn string(&mut self, var: Variable, default: &str) -> String {
        self.raw(var).unwrap_or_else(|| default.to_owned())
    }

    pub(crate) fn bool(&mut self, var: Variable, default: bool) -> bool {
        self.parse(var, "true or false (also 1/0, yes/no, on/off)", |s| {
            let lower = s.to_ascii_lowercase();
            if TRUE.contains(&lower.as_str()) {
                Some(true)
            } else if FALSE.contains(&lower.as_str()) {
                Some(false)
            } else {
                None
            }
        })
        .unwrap_or(default)
    }

    pub(crate) fn rate(&mut self, var: Variable, default: f64) -> f64 {
        self.parse(var, "a number from 0.0 to 1.0", |s| {
            f64::from_str(s)
                .ok()
                .filter(|r| r.is_finite() && (0.0..=1.0).contains(r))
        })
        .unwrap_or(default)
    }

    pub(crate) fn port(&mut self, var: Variable, default: u16) -> u16 {
        self.parse(var, "a port number from 1 to 65535", |s| {
            u16::from_str(s).ok().filter(|p| *p != 0)
        })
        .unwrap_or(default)
    }

    /// One of a fixed set of lower-case names, matched case-insensitively.
    pub(crate) fn choice<T: Copy>(
        &mut self,
        var: Variable,
        choices: &[(&str, T)],
        default: T,
    ) -> T {
        let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
        let expected = format!("one of {}", names.join(", "));
        self.parse(var, &expected, |s| {
            let lower = s.to_ascii_lowercase();
            choices
                .iter()
                .find(|(name, _)| *name == lower)
                .map(|(_, v)| *v)
        })
        .unwrap_or(default)
    }

    /// A URL whose scheme is one of `schemes`.
    pub(crate) fn url(&mut self, var: Variable, schemes: &[&str]) -> Option<url::Url> {
        let expected = format!(
            "an absolute URL with scheme {}",
            schemes
                .iter()
                .map(|s| format!("{s}://"))
                .collect::<Vec<_>>()
                .join(" or ")
        );
        self.parse(var, &expected, |s| {
            url::Url::parse(s)
                .ok()
                .filter(|u| schemes.contains(&u.scheme()) && (u.has_host() || u.scheme() == "unix"))
        })
    }
}

pub(super) fn parse_host(s: &str) -> Option<String> {
    if s.parse::<std::net::IpAddr>().is_ok()
        || url::Host::parse(s).is_ok() && !s.contains([':', '/', '@'])
    {
        Some(s.to_owned())
    } else {
        None
    }
}

/// Parses a URL literal of this module: never input, so it cannot fail.
#[allow(clippy::expect_used)]
pub(super) fn const_url(literal: &'static str) -> url::Url {
    url::Url::parse(literal).expect("URL literals of the config module are valid")
}

pub(super) fn bracket_ipv6(host: &str) -> String {
    if host.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}
