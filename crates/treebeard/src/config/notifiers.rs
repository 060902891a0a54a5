//! Notifier credentials: PagerDuty and Slack.

use super::reader::Reader;
use super::secret::Secret;
use super::vars::*;

/// Alert notifier credentials.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct NotifierConfig {
    /// `PAGERDUTY_INTEGRATION_KEY`.
    pub pagerduty_integration_key: Option<Secret>,
    /// `PAGERDUTY_ROUTING_KEY`.
    pub pagerduty_routing_key: Option<Secret>,
    /// `SLACK_WEBHOOK_URL`.
    pub slack_webhook_url: Option<Secret>,
    /// `SLACK_BOT_TOKEN`.
    pub slack_bot_token: Option<Secret>,
}

pub(super) fn read_notifiers(r: &mut Reader<'_>) -> NotifierConfig {
    let key = |s: &str| (!s.contains(char::is_whitespace)).then(|| Secret::new(s));
    NotifierConfig {
        pagerduty_integration_key: r.parse(
            PAGERDUTY_INTEGRATION_KEY,
            "a PagerDuty integration key without spaces",
            key,
        ),
        pagerduty_routing_key: r.parse(
            PAGERDUTY_ROUTING_KEY,
            "a PagerDuty routing key without spaces",
            key,
        ),
        slack_webhook_url: r.parse(SLACK_WEBHOOK_URL, "an https:// webhook URL", |s| {
            url::Url::parse(s)
                .ok()
                .filter(|u| matches!(u.scheme(), "https" | "http") && u.has_host())
                .map(|_| Secret::new(s))
        }),
        slack_bot_token: r.parse(
            SLACK_BOT_TOKEN,
            "a Slack token starting with xoxb- (or xoxp-)",
            |s| (s.starts_with("xox") && !s.contains(char::is_whitespace)).then(|| Secret::new(s)),
        ),
    }
}
