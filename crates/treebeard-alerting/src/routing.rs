//! Routing by severity, written into the monitor message as DataDog
//! notification handles (`@pagerduty-<service>`, `@slack-<channel>`,
//! `@<email>`).
//!
//! | severity | destinations |
//! |---|---|
//! | `critical` | PagerDuty |
//! | `high` | Slack alert channel, plus PagerDuty when `page_on_high: true` |
//! | `medium` | Slack warning channel and the email digest |
//!
//! ```
//! use treebeard_alerting::routing::{Notifications, Route};
//! use treebeard_alerting::severity::Severity;
//! let n: Notifications = serde_yaml_ng::from_str(
//!     "pagerduty: {service: treebeard-prod}\nslack: {channel: alerts}\n",
//! ).unwrap();
//! assert_eq!(n.routes(Severity::Critical), vec![Route::PagerDuty("treebeard-prod".into())]);
//! assert_eq!(n.routes(Severity::High)[0].handle(), "@slack-alerts");
//! ```

use serde::{Deserialize, Serialize};

use crate::severity::Severity;

/// The `notifications:` section of `alerting-config.yml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notifications {
    /// PagerDuty service, as named in DataDog's PagerDuty integration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagerduty: Option<PagerDutyRoute>,
    /// Slack channels, as named in DataDog's Slack integration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<SlackRoute>,
    /// Email recipients of the digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailRoute>,
    /// Whether `high` alerts also page through PagerDuty.
    #[serde(default)]
    pub page_on_high: bool,
}

/// PagerDuty destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyRoute {
    /// Service name: the handle becomes `@pagerduty-<service>`.
    pub service: String,
}

/// Slack destinations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackRoute {
    /// Channel for `high` alerts (without `#`): `@slack-<channel>`.
    pub channel: String,
    /// Channel for `medium` warnings; `channel` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning_channel: Option<String>,
}

/// Email destinations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailRoute {
    /// Addresses that receive `medium` alerts and the digest: `@<address>`.
    pub digest: Vec<String>,
}

/// One destination of an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A PagerDuty service.
    PagerDuty(String),
    /// A Slack channel.
    Slack(String),
    /// An email address.
    Email(String),
}

impl Route {
    /// The DataDog notification handle for this destination.
    pub fn handle(&self) -> String {
        match self {
            Self::PagerDuty(service) => format!("@pagerduty-{service}"),
            Self::Slack(channel) => format!("@slack-{}", channel.trim_start_matches('#')),
            Self::Email(address) => format!("@{address}"),
        }
    }
}

/// A severity whose destinations are not configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{severity} alerts route to {missing} but `notifications.{missing}` is not configured")]
pub struct MissingRoute {
    /// The severity being routed.
    pub severity: Severity,
    /// The missing section (`pagerduty`, `slack`, `email`).
    pub missing: &'static str,
}

impl Notifications {
    /// The destinations of an alert of `severity`, skipping any that are
    /// not configured (see [`Notifications::check`] to reject those).
    pub fn routes(&self, severity: Severity) -> Vec<Route> {
        let pagerduty = self
            .pagerduty
            .as_ref()
            .map(|p| Route::PagerDuty(p.service.clone()));
        let mut routes = Vec::new();
        match severity {
            Severity::Critical => routes.extend(pagerduty),
            Severity::High => {
                routes.extend(self.slack.as_ref().map(|s| Route::Slack(s.channel.clone())));
                if self.page_on_high {
                    routes.extend(pagerduty);
                }
            }
            Severity::Medium => {
                routes.extend(self.slack.as_ref().map(|s| {
                    Route::Slack(
                        s.warning_channel
                            .clone()
                            .unwrap_or_else(|| s.channel.clone()),
                    )
                }));
                if let Some(email) = &self.email {
                    routes.extend(email.digest.iter().cloned().map(Route::Email));
                }
            }
        }
        routes
    }

    /// Checks that every destination `severity` needs is configured.
    pub fn check(&self, severity: Severity) -> Result<(), MissingRoute> {
        let missing = |missing| Err(MissingRoute { severity, missing });
        match severity {
            Severity::Critical if self.pagerduty.is_none() => missing("pagerduty"),
            Severity::High if self.slack.is_none() => missing("slack"),
            Severity::High if self.page_on_high && self.pagerduty.is_none() => missing("pagerduty"),
            Severity::Medium if self.slack.is_none() => missing("slack"),
            Severity::Medium if self.email.as_ref().is_none_or(|e| e.digest.is_empty()) => {
                missing("email")
            }
            _ => Ok(()),
        }
    }

    /// The handles of `severity`, space-separated, for a monitor message.
    pub fn handles(&self, severity: Severity) -> String {
        self.routes(severity)
            .iter()
            .map(Route::handle)
            .collect::<Vec<_>>()
            .join(" ")
    }
}
