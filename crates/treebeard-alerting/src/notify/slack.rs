//! Slack: Block Kit messages through an incoming webhook, or through
//! `chat.postMessage` with a bot token and a channel.

use serde_json::{Value, json};

use super::{
    AlertStatus, Notification, NotifierOptions, NotifyError, notifier_setters, rejected, send_http,
    trim_base_url, truncate,
};
use crate::env::{self, ConfigSource, EnvError};
use crate::severity::Severity;

/// Default base URL of the Slack Web API.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

// Block Kit limits (https://api.slack.com/reference/block-kit/blocks).
const MAX_HEADER: usize = 150;
const MAX_SECTION: usize = 3000;
const MAX_FIELD: usize = 2000;
const MAX_FIELDS: usize = 10;

/// Where messages go.
#[derive(Clone)]
enum Target {
    Webhook(String),
    Bot {
        token: String,
        channel: String,
        api_url: String,
    },
}

/// Sends Block Kit messages to Slack.
#[derive(Clone)]
pub struct SlackNotifier {
    target: Target,
    client: reqwest::Client,
    options: NotifierOptions,
}

impl std::fmt::Debug for SlackNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let target = match &self.target {
            Target::Webhook(_) => "webhook".to_owned(),
            Target::Bot { channel, .. } => format!("bot → {channel}"),
        };
        f.debug_struct("SlackNotifier")
            .field("target", &target)
            .field("retry", &self.options.retry)
            .finish_non_exhaustive()
    }
}

notifier_setters!(
    SlackNotifier,
    retry: "Sets timeouts and retries.",
    scrubber: "Sets the PII scrubber applied to every text of the message.",
);

impl SlackNotifier {
    /// Posts to an incoming webhook.
    pub fn webhook(url: impl Into<String>) -> Self {
        Self::with_target(Target::Webhook(url.into()))
    }

    /// Posts with `chat.postMessage` as a bot.
    pub fn bot(token: impl Into<String>, channel: impl Into<String>) -> Self {
        Self::with_target(Target::Bot {
            token: token.into(),
            channel: channel.into(),
            api_url: DEFAULT_API_URL.to_owned(),
        })
    }

    fn with_target(target: Target) -> Self {
        Self {
            target,
            client: reqwest::Client::new(),
            options: NotifierOptions::default(),
        }
    }

    /// Reads `SLACK_WEBHOOK_URL`, or else `SLACK_BOT_TOKEN` with
    /// `SLACK_CHANNEL` (and `SLACK_API_URL`).
    pub fn from_env(source: &(impl ConfigSource + ?Sized)) -> Result<Self, NotifyError> {
        let config = |source| NotifyError::Config {
            channel: "slack",
            source,
        };
        if let Some(url) = source.value(env::SLACK_WEBHOOK_URL) {
            return match url::Url::parse(&url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(Self::webhook(url)),
                _ => Err(config(EnvError::Invalid {
                    name: env::SLACK_WEBHOOK_URL.name,
                    value: env::redact(&url),
                    expected: "an https:// incoming-webhook URL",
                })),
            };
        }
        let token = source
            .value(env::SLACK_BOT_TOKEN)
            .ok_or(config(EnvError::Missing {
                name: env::SLACK_WEBHOOK_URL.name,
                hint: Some("or SLACK_BOT_TOKEN with SLACK_CHANNEL"),
            }))?;
        if !token.starts_with("xox") {
            return Err(config(EnvError::Invalid {
                name: env::SLACK_BOT_TOKEN.name,
                value: env::redact(&token),
                expected: "a Slack token starting with xoxb-",
            }));
        }
        let channel = source
            .value(env::SLACK_CHANNEL)
            .ok_or(config(EnvError::Missing {
                name: env::SLACK_CHANNEL.name,
                hint: Some("required with SLACK_BOT_TOKEN"),
            }))?;
        let mut notifier = Self::bot(token, channel);
        if let Some(api) = source.value(env::SLACK_API_URL) {
            notifier = notifier.with_api_url(api);
        }
        Ok(notifier)
    }

    /// Sets the Web API base URL for bot mode (default [`DEFAULT_API_URL`]).
    #[must_use]
    pub fn with_api_url(mut self, url: impl Into<String>) -> Self {
        if let Target::Bot { api_url, .. } = &mut self.target {
            *api_url = trim_base_url(url);
        }
        self
    }

    /// The message for `n`: `{"text": ..., "blocks": [...]}`, scrubbed and
    /// within Block Kit's limits.
    pub fn message(&self, n: &Notification) -> Value {
        let scrub = |s: &str| self.options.scrubber.scrub(s);
        let title = format!(
            "{} [{}] {}",
            icon(n.severity, n.status),
            n.severity.as_str().to_uppercase(),
            scrub(&n.alert)
        );
        let mut fields = vec![
            field("Status", n.status.as_str()),
            field("Severity", n.severity.as_str()),
            field("Source", &scrub(&n.source)),
        ];
        if let Some(group) = &n.group {
            fields.push(field("Group", &scrub(group)));
        }
        fields.extend(n.details.iter().map(|(k, v)| field(&scrub(k), &scrub(v))));
        fields.truncate(MAX_FIELDS);
        let mut blocks = vec![
            json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&title, MAX_HEADER), "emoji": true}}),
            json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&scrub(&n.summary), MAX_SECTION)}}),
            json!({"type": "section", "fields": fields}),
        ];
        let mut context = vec![format!(
            "Dedup key `{}` · {}",
            n.dedup_key(),
            humantime::format_rfc3339_seconds(n.timestamp)
        )];
        if !n.tags.is_empty() {
            let tags: Vec<String> = n.tags.iter().map(|t| scrub(t)).collect();
            context.push(truncate(&tags.join(", "), MAX_FIELD));
        }
        blocks.push(json!({
            "type": "context",
            "elements": context.iter().map(|t| json!({"type": "mrkdwn", "text": t})).collect::<Vec<_>>(),
        }));
        if let Some(runbook) = &n.runbook {
            blocks.push(json!({"type": "actions", "elements": [{
                "type": "button",
                "action_id": "runbook",
                "text": {"type": "plain_text", "text": "Open runbook"},
                "url": scrub(runbook),
            }]}));
        }
        json!({ "text": truncate(&format!("{title}: {}", scrub(&n.summary)), MAX_SECTION), "blocks": blocks })
    }

    /// Sends the message for `n`.
    pub async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let mut body = self.message(n);
        let (url, token) = match &self.target {
            Target::Webhook(url) => (url.clone(), None),
            Target::Bot {
                token,
                channel,
                api_url,
            } => {
                if let Some(obj) = body.as_object_mut() {
                    obj.insert("channel".into(), Value::String(channel.clone()));
                }
                (format!("{api_url}/chat.postMessage"), Some(token.as_str()))
            }
        };
        let (status, text) = send_http("slack", &self.options.retry, || {
            let request = self.client.post(&url).json(&body);
            match token {
                Some(t) => request.bearer_auth(t),
                None => request,
            }
        })
        .await?;
        // The Web API answers 200 with `{"ok": false, "error": ...}` on failure.
        if token.is_some() {
            let ok = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("ok").and_then(Value::as_bool))
                .unwrap_or(false);
            if !ok {
                return Err(rejected("slack", status, &text));
            }
        }
        Ok(())
    }
}

fn field(name: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": truncate(&format!("*{name}*\n{value}"), MAX_FIELD)})
}

fn icon(severity: Severity, status: AlertStatus) -> &'static str {
    match (status, severity) {
        (AlertStatus::Resolved, _) => "✅",
        (AlertStatus::Acknowledged, _) => "👀",
        (_, Severity::Critical) => "🔴",
        (_, Severity::High) => "🟠",
        (_, Severity::Medium) => "🟡",
    }
}
