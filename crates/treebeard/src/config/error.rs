//! The typed configuration error: every invalid variable, reported at once.

use std::fmt;

/// One variable that is set but invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvalidVariable {
    /// The variable's name.
    pub name: &'static str,
    /// The value as set, or a redacted form of it for secrets.
    pub value: String,
    /// What the variable accepts.
    pub expected: String,
}

impl fmt::Display for InvalidVariable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}: {}", self.name, self.value, self.expected)
    }
}

/// The configuration could not be built: one or more variables are invalid.
///
/// All invalid variables are collected, so one restart shows every mistake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct ConfigError {
    /// The invalid variables, in the order they were read.
    pub invalid: Vec<InvalidVariable>,
}

impl ConfigError {
    /// The names of the invalid variables.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.invalid.iter().map(|v| v.name)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.invalid.len();
        write!(
            f,
            "invalid monitoring configuration: {n} environment variable{} invalid",
            if n == 1 { " is" } else { "s are" }
        )?;
        for v in &self.invalid {
            write!(f, "\n  - {v}")?;
        }
        Ok(())
    }
}

/// Secrets in messages: shared with the CLI and the notifiers (its tests
/// live with it, in `treebeard_conventions::env`).
pub(crate) use treebeard_conventions::env::redact;
