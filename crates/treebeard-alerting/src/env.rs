//! The environment variables this crate reads, in one place, and the
//! source they are read through.
//!
//! Configuration is read through [`EnvSource`] so tests pass a map
//! instead of mutating the process environment. Precedence is code (the
//! `with_*` setters) over environment over defaults.

use std::collections::HashMap;

/// DataDog API key (monitors and dashboards API).
pub const DD_API_KEY: &str = "DD_API_KEY";
/// DataDog application key.
pub const DD_APP_KEY: &str = "DD_APP_KEY";
/// DataDog site, default [`DEFAULT_DD_SITE`].
pub const DD_SITE: &str = "DD_SITE";
/// Full base URL of the DataDog API, overriding `DD_SITE` (tests, proxies).
pub const DD_API_URL: &str = "DD_API_URL";
/// Default DataDog site.
pub const DEFAULT_DD_SITE: &str = "datadoghq.com";

/// PagerDuty Events API v2 routing key.
pub const PAGERDUTY_ROUTING_KEY: &str = "PAGERDUTY_ROUTING_KEY";
/// The reference's older name of the routing key, read when
/// `PAGERDUTY_ROUTING_KEY` is unset.
pub const PAGERDUTY_INTEGRATION_KEY: &str = "PAGERDUTY_INTEGRATION_KEY";
/// Base URL of the PagerDuty Events API (default
/// `https://events.pagerduty.com/v2`); `/enqueue` is appended.
pub const PAGERDUTY_EVENTS_URL: &str = "PAGERDUTY_EVENTS_URL";

/// Slack incoming-webhook URL.
pub const SLACK_WEBHOOK_URL: &str = "SLACK_WEBHOOK_URL";
/// Slack bot token (`xoxb-...`), used with `SLACK_CHANNEL` when no webhook is set.
pub const SLACK_BOT_TOKEN: &str = "SLACK_BOT_TOKEN";
/// Slack channel for `chat.postMessage` (`#alerts` or a channel ID).
pub const SLACK_CHANNEL: &str = "SLACK_CHANNEL";
/// Base URL of the Slack Web API (default `https://slack.com/api`).
pub const SLACK_API_URL: &str = "SLACK_API_URL";

/// SMTP server host.
pub const SMTP_HOST: &str = "SMTP_HOST";
/// SMTP server port (default by `SMTP_TLS`: 25, 587 or 465).
pub const SMTP_PORT: &str = "SMTP_PORT";
/// SMTP user name (no authentication when unset).
pub const SMTP_USERNAME: &str = "SMTP_USERNAME";
/// SMTP password.
pub const SMTP_PASSWORD: &str = "SMTP_PASSWORD";
/// Sender address of the digest.
pub const SMTP_FROM: &str = "SMTP_FROM";
/// Recipients of the digest, comma-separated.
pub const SMTP_TO: &str = "SMTP_TO";
/// `none`, `starttls` (default) or `tls`.
pub const SMTP_TLS: &str = "SMTP_TLS";

/// Where configuration values come from.
pub trait EnvSource {
    /// The value of `name`, if set.
    fn get(&self, name: &str) -> Option<String>;

    /// The value of `name` when set and not blank.
    fn non_empty(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.trim().is_empty())
    }
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<S: std::hash::BuildHasher> EnvSource for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

impl EnvSource for [(&str, &str)] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

impl<const N: usize> EnvSource for [(&str, &str); N] {
    fn get(&self, name: &str) -> Option<String> {
        EnvSource::get(self.as_slice(), name)
    }
}

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

/// Redacts a secret for error messages: keeps the first 4 characters.
pub fn redact(secret: &str) -> String {
    let head: String = secret.chars().take(4).collect();
    format!("{head}…(redacted)")
}

/// DataDog agent host (traces and DogStatsD), default `localhost`.
pub const DD_AGENT_HOST: &str = "DD_AGENT_HOST";
/// Trace agent port, default `8126`.
pub const DD_TRACE_AGENT_PORT: &str = "DD_TRACE_AGENT_PORT";
/// Full trace agent URL; wins over host and port.
pub const DD_TRACE_AGENT_URL: &str = "DD_TRACE_AGENT_URL";
/// DogStatsD port, default `8125`.
pub const DD_DOGSTATSD_PORT: &str = "DD_DOGSTATSD_PORT";
/// Sentry DSN.
pub const SENTRY_DSN: &str = "SENTRY_DSN";
