//! The daily or weekly digest of what really fired: the reference's email
//! report, built from DataDog's monitor alert history.
//!
//! - [`history`]: reads the monitor alert events of the monitors TreeBeard
//!   owns from the Events API v2 (`POST /api/v2/events/search`).
//! - [`episodes`]: turns events into firing episodes (alert/warn →
//!   recovered), per monitor and group.
//! - [`render`]: the digest as plain text, HTML and JSON.
//! - [`email`]: the digest emailed through the
//!   [`EmailNotifier`](crate::notify::EmailNotifier).
//!
//! [`Report::build`] joins the episodes with `alerting-config.yml` (severity
//! and runbook by monitor name, which is the alert name) and [`collect`]
//! does fetch and build in one call; [`email::send`] sends the result:
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use treebeard_alerting::digest::{episodes::{MonitorEvent, Transition}, Report, Window};
//! use treebeard_alerting::notify::{DigestPeriod, NoScrub};
//! let config = treebeard_alerting::validate::parse(r#"
//! notifications: { pagerduty: { service: prod } }
//! alerts:
//!   - name: Error rate above 1%
//!     query: "avg:treebeard.api.errors{*}"
//!     thresholds: { critical: 1 }
//!     severity: critical
//!     description: Too many errors.
//!     runbook: https://runbooks.example/errors
//! "#).unwrap();
//! let end = SystemTime::UNIX_EPOCH + Duration::from_secs(1_768_460_400);
//! let window = Window::ending(DigestPeriod::Daily, end);
//! let fired = MonitorEvent::new(42, "Error rate above 1%", Transition::Alert, end - Duration::from_secs(600))
//!     .with_tags(["managed-by:treebeard"]);
//! let report = Report::build(&config, window, vec![fired], "https://app.datadoghq.com", &NoScrub);
//! assert_eq!(report.alerts, 1);
//! assert_eq!(report.monitors[0].runbook.as_deref(), Some("https://runbooks.example/errors"));
//! assert_eq!(report.monitors[0].url, "https://app.datadoghq.com/monitors/42");
//! assert!(report.monitors[0].open);
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Serialize, Serializer};

use crate::datadog_api::{ApiError, DatadogClient};
use crate::notify::{DigestPeriod, NotifyError, Scrubber};
use crate::rules::AlertingConfig;
use crate::severity::Severity;

pub mod email;
pub mod episodes;
pub mod history;
pub mod render;

use episodes::{Episode, MonitorEvent};

/// How far before the period the history is read, so that an alert that
/// fired before the period and is still firing in it is seen. Monitors
/// re-notify while they fire (hourly by default), so a day is ample; an
/// alert silent for longer than this before the period is not seen until
/// it recovers.
pub const LOOKBACK: Duration = Duration::from_secs(86_400);

/// The time span a digest covers: `period` back from `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Daily or weekly.
    pub period: DigestPeriod,
    /// The start (`end` minus 24 h or 7 days).
    pub start: SystemTime,
    /// The end.
    pub end: SystemTime,
}

impl Window {
    /// The window of `period` ending at `end`.
    pub fn ending(period: DigestPeriod, end: SystemTime) -> Self {
        Self {
            period,
            start: end
                .checked_sub(period.duration())
                .unwrap_or(SystemTime::UNIX_EPOCH),
            end,
        }
    }
}

/// Parses `--end`: an RFC 3339 time (`2026-01-15T07:00:00Z`,
/// `2026-01-15T08:00:00+01:00`) or `now`.
pub fn parse_end(text: &str, now: SystemTime) -> Result<SystemTime, DigestError> {
    if text.trim().eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    history::parse_rfc3339(text).ok_or_else(|| DigestError::BadEnd(text.to_owned()))
}

/// Why a digest could not be built or sent.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    /// `--end` is not a time.
    #[error(
        "--end {0:?} is not a time: expected RFC 3339 such as 2026-01-15T07:00:00Z or 2026-01-15T08:00:00+01:00, or `now`"
    )]
    BadEnd(String),
    /// DataDog could not be read.
    #[error("reading monitor alert history: {0}")]
    Api(#[from] ApiError),
    /// The email was not delivered.
    #[error("sending the digest: {0}")]
    Email(#[from] NotifyError),
}

/// Episode counts per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SeverityCounts {
    /// Critical episodes.
    pub critical: usize,
    /// High episodes.
    pub high: usize,
    /// Medium episodes.
    pub medium: usize,
}

impl SeverityCounts {
    fn add(&mut self, severity: Severity, n: usize) {
        match severity {
            Severity::Critical => self.critical += n,
            Severity::High => self.high += n,
            Severity::Medium => self.medium += n,
        }
    }
}

/// The digest of one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// `daily` or `weekly`.
    #[serde(serialize_with = "ser_period")]
    pub period: DigestPeriod,
    /// Start of the period.
    #[serde(serialize_with = "ser_time")]
    pub start: SystemTime,
    /// End of the period.
    #[serde(serialize_with = "ser_time")]
    pub end: SystemTime,
    /// Firing episodes in the period, all monitors.
    pub alerts: usize,
    /// Episodes still firing at the end.
    pub still_open: usize,
    /// Episodes per severity.
    pub by_severity: SeverityCounts,
    /// The monitors that fired, most severe first, then by name.
    pub monitors: Vec<MonitorSummary>,
    /// Names of TreeBeard monitors that fired but match no alert of
    /// `alerting-config.yml` and carry no `severity:` tag (left out above).
    pub unmatched: Vec<String>,
}

/// What one monitor did during the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonitorSummary {
    /// The monitor (and alert rule) name.
    pub name: String,
    /// The DataDog monitor id.
    pub monitor_id: i64,
    /// Severity from the rules (or the monitor's `severity:` tag).
    pub severity: Severity,
    /// The monitor's page in DataDog.
    pub url: String,
    /// The runbook from the rules.
    pub runbook: Option<String>,
    /// How many times it fired (episodes).
    pub fired: usize,
    /// Start of its first episode.
    #[serde(serialize_with = "ser_time")]
    pub first: SystemTime,
    /// Start of its last episode.
    #[serde(serialize_with = "ser_time")]
    pub last: SystemTime,
    /// Time spent firing, all episodes (open ones up to the end).
    pub total_seconds: u64,
    /// Whether an episode is still open at the end.
    pub open: bool,
    /// Its episodes, oldest first.
    pub episodes: Vec<EpisodeSummary>,
}

/// One firing episode in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpisodeSummary {
    /// Multi-alert group.
    pub group: Option<String>,
    /// `alert` or `warn` (the worst reached).
    pub level: &'static str,
    /// When it started.
    #[serde(serialize_with = "ser_time")]
    pub start: SystemTime,
    /// When it recovered; `null` while open.
    #[serde(serialize_with = "ser_opt_time")]
    pub end: Option<SystemTime>,
    /// How long it fired (up to the period's end when open).
    pub seconds: u64,
    /// Still firing at the end.
    pub open: bool,
    /// Already firing when the period began.
    pub started_before_period: bool,
}

impl Report {
    /// Builds the digest of `window` from `events` (which may reach back
    /// before the window: see [`LOOKBACK`]). `app_url` is DataDog's web
    /// app (`DatadogClient::app_url`); names, groups and runbooks pass
    /// through `scrubber`.
    pub fn build(
        config: &AlertingConfig,
        window: Window,
        events: Vec<MonitorEvent>,
        app_url: &str,
        scrubber: &dyn Scrubber,
    ) -> Self {
        let mut by_monitor: BTreeMap<i64, Vec<Episode>> = BTreeMap::new();
        for episode in episodes::derive(events, window.start, window.end) {
            by_monitor
                .entry(episode.monitor_id)
                .or_default()
                .push(episode);
        }
        let mut monitors = Vec::new();
        let mut unmatched = Vec::new();
        for (id, episodes) in by_monitor {
            let Some(latest) = episodes.last() else {
                continue;
            };
            let name = latest.monitor_name.clone();
            let rule = config.alerts.iter().find(|a| a.name == name);
            let severity = rule
                .map(|r| r.severity)
                .or_else(|| severity_tag(&latest.tags));
            let Some(severity) = severity else {
                unmatched.push(scrubber.scrub(&name));
                continue;
            };
            monitors.push(summarise(
                id,
                &name,
                severity,
                rule.map(|r| r.runbook.as_str()),
                &episodes,
                window,
                app_url,
                scrubber,
            ));
        }
        monitors.sort_by(|a, b| (a.severity, &a.name).cmp(&(b.severity, &b.name)));
        let mut by_severity = SeverityCounts::default();
        for m in &monitors {
            by_severity.add(m.severity, m.fired);
        }
        Self {
            period: window.period,
            start: window.start,
            end: window.end,
            alerts: monitors.iter().map(|m| m.fired).sum(),
            still_open: monitors
                .iter()
                .map(|m| m.episodes.iter().filter(|e| e.open).count())
                .sum(),
            by_severity,
            monitors,
            unmatched,
        }
    }

    /// Whether nothing fired (a quiet period).
    pub fn is_quiet(&self) -> bool {
        self.monitors.is_empty()
    }
}

#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
fn summarise(
    id: i64,
    name: &str,
    severity: Severity,
    runbook: Option<&str>,
    episodes: &[Episode],
    window: Window,
    app_url: &str,
    scrubber: &dyn Scrubber,
) -> MonitorSummary {
    let episodes: Vec<EpisodeSummary> = episodes
        .iter()
        .map(|e| EpisodeSummary {
            group: e.group.as_deref().map(|g| scrubber.scrub(g)),
            level: e.level.as_str(),
            start: e.start,
            end: e.end,
            seconds: e.duration(window.end).as_secs(),
            open: e.is_open(),
            started_before_period: e.started_before(window.start),
        })
        .collect();
    MonitorSummary {
        name: scrubber.scrub(name),
        monitor_id: id,
        severity,
        url: format!("{}/monitors/{id}", app_url.trim_end_matches('/')),
        runbook: runbook.map(|r| scrubber.scrub(r)),
        fired: episodes.len(),
        first: episodes.first().map_or(window.start, |e| e.start),
        last: episodes.last().map_or(window.start, |e| e.start),
        total_seconds: episodes.iter().map(|e| e.seconds).sum(),
        open: episodes.iter().any(|e| e.open),
        episodes,
    }
}

/// The severity of a `severity:<s>` tag, for monitors no rule names any more.
fn severity_tag(tags: &[String]) -> Option<Severity> {
    tags.iter()
        .filter_map(|t| t.strip_prefix("severity:"))
        .find_map(|s| serde_yaml_ng::from_str::<Severity>(s).ok())
}

/// Reads the history of `window` from DataDog and builds its digest.
pub async fn collect(
    client: &DatadogClient,
    config: &AlertingConfig,
    window: Window,
    scrubber: &dyn Scrubber,
) -> Result<Report, DigestError> {
    let from = window
        .start
        .checked_sub(LOOKBACK)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let events = history::fetch(client, from, window.end).await?;
    Ok(Report::build(
        config,
        window,
        events,
        &client.app_url(),
        scrubber,
    ))
}

fn ser_time<S: Serializer>(at: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&history::rfc3339(*at))
}

fn ser_opt_time<S: Serializer>(at: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => ser_time(at, s),
        None => s.serialize_none(),
    }
}

fn ser_period<S: Serializer>(p: &DigestPeriod, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(p.as_str())
}
