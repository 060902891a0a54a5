//! Notifiers: PagerDuty Events API v2, Slack and an SMTP email digest.
//!
//! Every notifier takes a [`Notification`], passes each human-readable text
//! through its [`Scrubber`] before it leaves the process, and reports
//! failures as a [`NotifyError`] value: it never panics.
//!
//! # PII scrubbing seam
//!
//! Notifiers hold an `Arc<dyn Scrubber>`: by default [`PiiScrubber`], the
//! project's one PII scrubber (crate `treebeard-pii`, the same one that
//! scrubs logs and Sentry events), so alert texts never carry e-mails,
//! phone numbers, card numbers, tokens or passwords. Replace it with
//! `with_scrubber(...)`: a customised `treebeard_pii::Scrubber`, [`NoScrub`]
//! (the identity), or any `Fn(&str) -> String + Send + Sync` closure:
//!
//! ```
//! use std::sync::Arc;
//! use treebeard_alerting::notify::{PagerDutyNotifier, Scrubber};
//! let scrub: Arc<dyn Scrubber> = Arc::new(|s: &str| s.replace("alice@example.com", "[email]"));
//! let notifier = PagerDutyNotifier::new("R0UT1NGKEY").with_scrubber(scrub);
//! # let _ = notifier;
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use crate::retry::RetryPolicy;
use crate::severity::Severity;

pub mod email;
pub mod pagerduty;
pub mod slack;

pub use email::{Digest, DigestPeriod, EmailNotifier, SmtpSettings, SmtpTls};
pub use pagerduty::{EventAction, PagerDutyNotifier};
pub use slack::SlackNotifier;

/// Hook applied to every text a notifier sends (summaries, details, tags).
///
/// Implemented for [`PiiScrubber`] and `treebeard_pii::Scrubber`, for `()`
/// and [`NoScrub`] (identity), and for closures.
pub trait Scrubber: Send + Sync {
    /// Returns `text` with personal data removed.
    fn scrub(&self, text: &str) -> String;
}

/// The identity scrubber: sends texts as they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoScrub;

impl Scrubber for NoScrub {
    fn scrub(&self, text: &str) -> String {
        text.to_owned()
    }
}

/// The default scrubber: `treebeard_pii::Scrubber::global()`.
///
/// ```
/// use treebeard_alerting::notify::{PiiScrubber, Scrubber};
/// assert_eq!(PiiScrubber.scrub("paged bob@example.com"), "paged [EMAIL]");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct PiiScrubber;

impl Scrubber for PiiScrubber {
    fn scrub(&self, text: &str) -> String {
        treebeard_pii::Scrubber::global().scrub(text).into_owned()
    }
}

impl Scrubber for treebeard_pii::Scrubber {
    fn scrub(&self, text: &str) -> String {
        treebeard_pii::Scrubber::scrub(self, text).into_owned()
    }
}

impl Scrubber for () {
    fn scrub(&self, text: &str) -> String {
        text.to_owned()
    }
}

impl<F> Scrubber for F
where
    F: Fn(&str) -> String + Send + Sync,
{
    fn scrub(&self, text: &str) -> String {
        self(text)
    }
}

/// The default scrubber ([`PiiScrubber`]) as a shareable handle.
pub fn default_scrubber() -> Arc<dyn Scrubber> {
    Arc::new(PiiScrubber)
}

/// What every notifier holds besides its destination: how it retries and
/// how it scrubs texts. Kept in one struct so the defaults and the setters
/// ([`notifier_setters`]) are written once for all notifiers.
#[derive(Clone)]
pub(crate) struct NotifierOptions {
    /// Timeouts and retries of each send.
    pub(crate) retry: RetryPolicy,
    /// Applied to every text before it leaves the process.
    pub(crate) scrubber: Arc<dyn Scrubber>,
}

impl Default for NotifierOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            scrubber: default_scrubber(),
        }
    }
}

/// Writes the shared builder setters `with_retry` and `with_scrubber` on a
/// notifier that holds `options: NotifierOptions`, with the doc lines given.
///
/// Inherent methods from a macro rather than a trait with provided methods:
/// callers chain `PagerDutyNotifier::new(..).with_retry(..)` without
/// importing any trait, and that must keep compiling.
macro_rules! notifier_setters {
    ($notifier:ty, retry: $retry_doc:literal, scrubber: $scrubber_doc:literal $(,)?) => {
        impl $notifier {
            #[doc = $retry_doc]
            #[must_use]
            pub fn with_retry(mut self, retry: $crate::retry::RetryPolicy) -> Self {
                self.options.retry = retry;
                self
            }

            #[doc = $scrubber_doc]
            #[must_use]
            pub fn with_scrubber(
                mut self,
                scrubber: ::std::sync::Arc<dyn $crate::notify::Scrubber>,
            ) -> Self {
                self.options.scrubber = scrubber;
                self
            }
        }
    };
}
pub(crate) use notifier_setters;

/// A base URL as given, without trailing slashes, so that paths can be
/// appended with `format!("{base}/path")`.
pub(crate) fn trim_base_url(url: impl Into<String>) -> String {
    url.into().trim_end_matches('/').to_owned()
}

/// Whether an alert is firing, acknowledged or over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertStatus {
    /// The alert fired.
    Triggered,
    /// Someone is on it.
    Acknowledged,
    /// The condition cleared.
    Resolved,
}

impl AlertStatus {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Triggered => "triggered",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }
}

/// One alert event to send.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Notification {
    /// The alert rule's name.
    pub alert: String,
    /// Its severity.
    pub severity: Severity,
    /// Current status.
    pub status: AlertStatus,
    /// One-line summary.
    pub summary: String,
    /// The affected system (service or host).
    pub source: String,
    /// The group of a multi-alert (`endpoint:/users/{id}`), if any.
    pub group: Option<String>,
    /// Extra key/values shown in the notification.
    pub details: BTreeMap<String, String>,
    /// Runbook link.
    pub runbook: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// When the event happened.
    pub timestamp: SystemTime,
}

impl Notification {
    /// A triggered notification for `alert`, from source `treebeard`, now.
    pub fn new(alert: impl Into<String>, severity: Severity, summary: impl Into<String>) -> Self {
        Self {
            alert: alert.into(),
            severity,
            status: AlertStatus::Triggered,
            summary: summary.into(),
            source: "treebeard".into(),
            group: None,
            details: BTreeMap::new(),
            runbook: None,
            tags: Vec::new(),
            timestamp: SystemTime::now(),
        }
    }

    /// Sets the status.
    #[must_use]
    pub fn with_status(mut self, status: AlertStatus) -> Self {
        self.status = status;
        self
    }

    /// Sets the source (default `treebeard`).
    #[must_use]
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    /// Sets the multi-alert group.
    #[must_use]
    pub fn with_group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Adds one detail.
    #[must_use]
    pub fn with_detail(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }

    /// Sets the runbook link.
    #[must_use]
    pub fn with_runbook(mut self, url: impl Into<String>) -> Self {
        self.runbook = Some(url.into());
        self
    }

    /// Sets the tags.
    #[must_use]
    pub fn with_tags(mut self, tags: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the time of the event.
    #[must_use]
    pub fn with_timestamp(mut self, at: SystemTime) -> Self {
        self.timestamp = at;
        self
    }

    /// The stable deduplication key: the same alert and group always give
    /// the same key, whatever the time, status, value or text, so trigger,
    /// acknowledge and resolve address one PagerDuty incident.
    pub fn dedup_key(&self) -> String {
        dedup_key(&self.alert, self.group.as_deref())
    }
}

/// The PagerDuty deduplication key of an alert (and group):
/// `treebeard/<alert-slug>[/<group-slug>]`, at most 255 bytes.
///
/// ```
/// use treebeard_alerting::notify::dedup_key;
/// assert_eq!(dedup_key("API P95 latency > 2 s", None), "treebeard/api-p95-latency-2-s");
/// assert_eq!(dedup_key("High error rate", Some("endpoint:/users/{id}")), "treebeard/high-error-rate/endpoint-users-id");
/// ```
pub fn dedup_key(alert: &str, group: Option<&str>) -> String {
    let mut key = format!("treebeard/{}", slug(alert));
    if let Some(group) = group {
        key.push('/');
        key.push_str(&slug(group));
    }
    // PagerDuty caps dedup keys at 255 characters; slugs are ASCII.
    key.truncate(255);
    key
}

fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// Truncates `text` to at most `max` characters, marking the cut with `…`.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Sends the request `make` builds, retried per `retry`, and returns the
/// status and body of a 2xx answer. A transport failure or any other status
/// is an error of `channel`, so each HTTP notifier only reads the answer.
pub(crate) async fn send_http(
    channel: &'static str,
    retry: &RetryPolicy,
    make: impl Fn() -> reqwest::RequestBuilder,
) -> Result<(u16, String), NotifyError> {
    let response = retry
        .send(make)
        .await
        .map_err(|source| NotifyError::Transport { channel, source })?;
    let status = response.status();
    // An unreadable body counts as empty: the status alone says whether the
    // service took the notification.
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(rejected(channel, status.as_u16(), &body));
    }
    Ok((status.as_u16(), body))
}

/// A [`NotifyError::Rejected`] of `channel` with the answer, shortened.
pub(crate) fn rejected(channel: &'static str, status: u16, body: &str) -> NotifyError {
    NotifyError::Rejected {
        channel,
        status,
        body: truncate(body, 500),
    }
}

/// Why a notification was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The notifier is not configured (a variable is missing or invalid).
    #[error("{channel}: {source}")]
    Config {
        /// `pagerduty`, `slack` or `email`.
        channel: &'static str,
        /// The configuration problem.
        source: crate::env::EnvError,
    },
    /// The request could not be sent (after retries).
    #[error("{channel}: request failed: {source}")]
    Transport {
        /// The channel.
        channel: &'static str,
        /// The transport error.
        source: reqwest::Error,
    },
    /// The service answered with an error.
    #[error("{channel}: rejected with HTTP {status}: {body}")]
    Rejected {
        /// The channel.
        channel: &'static str,
        /// HTTP status (200 for Slack API `ok: false`).
        status: u16,
        /// The answer, shortened.
        body: String,
    },
    /// The email could not be built or sent.
    #[error("email: {0}")]
    Email(String),
}
