//! The environment variables this crate reads, and the source they are
//! read through: the workspace's one registry, from
//! [`treebeard_conventions::env`] (shared with the `treebeard` library).
//!
//! Configuration is read through [`ConfigSource`] so tests pass a map
//! instead of mutating the process environment; [`EnvSource`] reads the
//! process environment. Precedence is code (the `with_*` setters) over
//! environment over defaults.

pub use treebeard_conventions::env::{
    ConfigSource, DD_AGENT_HOST, DD_API_KEY, DD_API_URL, DD_APP_KEY, DD_DOGSTATSD_HOST,
    DD_DOGSTATSD_PORT, DD_DOGSTATSD_URL, DD_ENV, DD_SERVICE, DD_SITE, DD_TRACE_AGENT_PORT,
    DD_TRACE_AGENT_URL, DD_VERSION, DEFAULT_AGENT_HOST, DEFAULT_DD_SITE, DEFAULT_DOGSTATSD_PORT,
    DEFAULT_TRACE_AGENT_PORT, EnvSource, PAGERDUTY_EVENTS_URL, PAGERDUTY_INTEGRATION_KEY,
    PAGERDUTY_ROUTING_KEY, SENTRY_DSN, SLACK_API_URL, SLACK_BOT_TOKEN, SLACK_CHANNEL,
    SLACK_WEBHOOK_URL, SMTP_FROM, SMTP_HOST, SMTP_PASSWORD, SMTP_PORT, SMTP_TLS, SMTP_TO,
    SMTP_USERNAME, TREEBEARD_RUNBOOK_BASE_URL, Variable, redact,
};

/// A variable that is set to a value this crate cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// The variable is required and unset.
    #[error("{name} is not set{}", hint.map(|h| format!(" ({h})")).unwrap_or_default())]
    Missing {
        /// The variable.
        name: &'static str,
        /// What it is for.
        hint: Option<&'static str>,
    },
    /// The variable is set but invalid.
    #[error("{name}={value:?} is invalid: expected {expected}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value, redacted when secret.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
}
