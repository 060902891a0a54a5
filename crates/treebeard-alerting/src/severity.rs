//! Alert severity, shared by the rules model ([`crate::rules`]), the routing
//! ([`crate::routing`]) and the notifiers.
//!
//! It lives in a module of its own so that `rules` and `routing` each depend
//! on it instead of on each other: `rules` holds the `notifications:` section
//! (a `routing` type), and `routing` routes by severity.

use serde::{Deserialize, Serialize};

/// Alert severity, as in the reference's escalation policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Pages the on-call engineer (PagerDuty).
    Critical,
    /// Slack, and PagerDuty when `notifications.page_on_high` is set.
    High,
    /// Slack warning channel and the email digest.
    Medium,
}

impl Severity {
    /// The lowercase name used in YAML, tags and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::High => "high",
            Self::Medium => "medium",
        }
    }

    /// The DataDog monitor priority (1 is highest).
    pub fn priority(self) -> u8 {
        match self {
            Self::Critical => 1,
            Self::High => 2,
            Self::Medium => 3,
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
