//! PagerDuty Events API v2: trigger, acknowledge and resolve.

use serde_json::{Value, json};

use super::{
    Notification, NotifierOptions, NotifyError, notifier_setters, send_http, trim_base_url,
    truncate,
};
use crate::env::{self, ConfigSource, EnvError};
use crate::severity::Severity;

/// Default base URL of the Events API; `/enqueue` is appended.
pub const DEFAULT_EVENTS_URL: &str = "https://events.pagerduty.com/v2";

/// PagerDuty caps summaries at 1024 characters.
const MAX_SUMMARY: usize = 1024;

/// The three event actions of the Events API v2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventAction {
    /// Open (or update) the incident.
    Trigger,
    /// Mark the incident as being worked on.
    Acknowledge,
    /// Close the incident.
    Resolve,
}

impl EventAction {
    /// The API's name of the action.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trigger => "trigger",
            Self::Acknowledge => "acknowledge",
            Self::Resolve => "resolve",
        }
    }
}

/// Sends events to PagerDuty.
#[derive(Clone)]
pub struct PagerDutyNotifier {
    routing_key: String,
    base_url: String,
    client: reqwest::Client,
    options: NotifierOptions,
}

impl std::fmt::Debug for PagerDutyNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagerDutyNotifier")
            .field("routing_key", &env::redact(&self.routing_key))
            .field("base_url", &self.base_url)
            .field("retry", &self.options.retry)
            .finish_non_exhaustive()
    }
}

notifier_setters!(
    PagerDutyNotifier,
    retry: "Sets timeouts and retries (default [`RetryPolicy::default`](crate::retry::RetryPolicy::default)).",
    scrubber: "Sets the PII scrubber applied to summaries, details and links.",
);

impl PagerDutyNotifier {
    /// A notifier for the integration with `routing_key`.
    pub fn new(routing_key: impl Into<String>) -> Self {
        Self {
            routing_key: routing_key.into(),
            base_url: DEFAULT_EVENTS_URL.to_owned(),
            client: reqwest::Client::new(),
            options: NotifierOptions::default(),
        }
    }

    /// Reads `PAGERDUTY_ROUTING_KEY` (or `PAGERDUTY_INTEGRATION_KEY`) and
    /// `PAGERDUTY_EVENTS_URL`.
    pub fn from_env(source: &(impl ConfigSource + ?Sized)) -> Result<Self, NotifyError> {
        let key = source
            .value(env::PAGERDUTY_ROUTING_KEY)
            .or_else(|| source.value(env::PAGERDUTY_INTEGRATION_KEY))
            .ok_or(NotifyError::Config {
                channel: "pagerduty",
                source: EnvError::Missing {
                    name: env::PAGERDUTY_ROUTING_KEY.name,
                    hint: Some("the Events API v2 integration key"),
                },
            })?;
        let mut notifier = Self::new(key);
        if let Some(url) = source.value(env::PAGERDUTY_EVENTS_URL) {
            if url::Url::parse(&url).is_err() {
                return Err(NotifyError::Config {
                    channel: "pagerduty",
                    source: EnvError::Invalid {
                        name: env::PAGERDUTY_EVENTS_URL.name,
                        value: url,
                        expected: "an absolute URL such as https://events.pagerduty.com/v2",
                    },
                });
            }
            notifier = notifier.with_base_url(url);
        }
        Ok(notifier)
    }

    /// Sets the base URL (default [`DEFAULT_EVENTS_URL`]); `/enqueue` is appended.
    #[must_use]
    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = trim_base_url(url);
        self
    }

    /// Opens or updates the incident of `n` (keyed by [`Notification::dedup_key`]).
    pub async fn trigger(&self, n: &Notification) -> Result<String, NotifyError> {
        self.send(&self.trigger_event(n)).await
    }

    /// Acknowledges the incident with `dedup_key`.
    pub async fn acknowledge(&self, dedup_key: &str) -> Result<String, NotifyError> {
        self.send(&self.event(EventAction::Acknowledge, dedup_key))
            .await
    }

    /// Resolves the incident with `dedup_key`.
    pub async fn resolve(&self, dedup_key: &str) -> Result<String, NotifyError> {
        self.send(&self.event(EventAction::Resolve, dedup_key))
            .await
    }

    /// The JSON body of a trigger event for `n`, scrubbed.
    pub fn trigger_event(&self, n: &Notification) -> Value {
        let scrub = |s: &str| self.options.scrubber.scrub(s);
        let details: serde_json::Map<String, Value> = n
            .details
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(scrub(v))))
            .chain([
                ("alert".to_owned(), Value::String(scrub(&n.alert))),
                (
                    "tags".to_owned(),
                    json!(n.tags.iter().map(|t| scrub(t)).collect::<Vec<_>>()),
                ),
            ])
            .collect();
        let mut payload = json!({
            "summary": truncate(&scrub(&n.summary), MAX_SUMMARY),
            "source": scrub(&n.source),
            "severity": severity(n.severity),
            "timestamp": humantime::format_rfc3339_millis(n.timestamp).to_string(),
            "component": n.source,
            "class": n.alert,
            "custom_details": details,
        });
        if let (Some(group), Some(obj)) = (&n.group, payload.as_object_mut()) {
            obj.insert("group".into(), Value::String(scrub(group)));
        }
        let mut event = json!({
            "routing_key": self.routing_key,
            "event_action": EventAction::Trigger.as_str(),
            "dedup_key": n.dedup_key(),
            "client": "TreeBeard",
            "payload": payload,
        });
        if let (Some(runbook), Some(obj)) = (&n.runbook, event.as_object_mut()) {
            obj.insert(
                "links".into(),
                json!([{ "href": scrub(runbook), "text": "Runbook" }]),
            );
        }
        event
    }

    /// The JSON body of an acknowledge or resolve event.
    pub fn event(&self, action: EventAction, dedup_key: &str) -> Value {
        json!({
            "routing_key": self.routing_key,
            "event_action": action.as_str(),
            "dedup_key": dedup_key,
        })
    }

    /// Posts a prepared event; returns the dedup key PagerDuty answered.
    pub async fn send(&self, event: &Value) -> Result<String, NotifyError> {
        let url = format!("{}/enqueue", self.base_url);
        let (_, body) = send_http("pagerduty", &self.options.retry, || {
            self.client.post(&url).json(event)
        })
        .await?;
        let answered = serde_json::from_str::<Value>(&body).ok().and_then(|v| {
            v.get("dedup_key")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        Ok(answered
            .or_else(|| {
                event
                    .get("dedup_key")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_default())
    }
}

/// PagerDuty severity of a TreeBeard severity.
pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
    }
}
