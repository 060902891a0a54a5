//! DataDog monitors (Monitors API v1) generated from the alert rules.
//!
//! ```
//! let config = treebeard_alerting::validate::parse(r#"
//! notifications: { pagerduty: { service: treebeard-prod } }
//! alerts:
//!   - name: API P95 latency above 2 s
//!     query: "p95:treebeard.api.request.duration{env:production}"
//!     thresholds: { critical: 2 }
//!     severity: critical
//!     description: Requests are slow.
//!     runbook: https://runbooks.example/latency
//! "#).unwrap();
//! let monitors = treebeard_alerting::monitors::generate(&config).unwrap();
//! assert_eq!(
//!     monitors[0].query,
//!     "avg(last_5m):p95:treebeard.api.request.duration{env:production} > 2"
//! );
//! assert!(monitors[0].message.ends_with("@pagerduty-treebeard-prod"));
//! assert!(monitors[0].tags.contains(&"managed-by:treebeard".to_owned()));
//! ```

use serde::{Deserialize, Serialize};

use crate::query::{self, QueryError};
use crate::rules::{AlertRule, AlertingConfig};

/// The tag that marks a monitor as owned by TreeBeard: `plan`/`apply`
/// only ever update or delete monitors that carry it.
pub const MANAGED_BY_TAG: &str = "managed-by:treebeard";

/// The monitor type of metric monitors as the API reports it.
pub const METRIC_MONITOR_TYPE: &str = "query alert";

/// A DataDog monitor as sent to `POST /api/v1/monitor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Monitor {
    /// Monitor name (the alert name).
    pub name: String,
    /// Monitor type, [`METRIC_MONITOR_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
    /// Full monitor query with time aggregation and threshold.
    pub query: String,
    /// Notification message with the routing handles.
    pub message: String,
    /// Tags, sorted, including [`MANAGED_BY_TAG`].
    pub tags: Vec<String>,
    /// Priority from 1 (critical) to 5.
    pub priority: u8,
    /// Evaluation and notification options.
    pub options: MonitorOptions,
}

/// `options` of a monitor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorOptions {
    /// Threshold values.
    pub thresholds: MonitorThresholds,
    /// Whether missing data notifies.
    pub notify_no_data: bool,
    /// Minutes without data before notifying.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_data_timeframe: Option<u64>,
    /// Minutes between re-notifications (absent: never).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renotify_interval: Option<u64>,
    /// Hours after which an alert without data resolves itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_h: Option<u64>,
    /// Whether a full window of data is required.
    pub require_full_window: bool,
    /// Whether group tags appear in notification titles.
    pub include_tags: bool,
}

/// Threshold values of a monitor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MonitorThresholds {
    /// Critical threshold (also in the query).
    pub critical: f64,
    /// Warning threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<f64>,
}

/// Generates the monitors of every alert of `config`.
///
/// Call [`crate::validate::check`] first (or load through
/// [`crate::validate::parse`]); this only fails on unusable queries.
pub fn generate(config: &AlertingConfig) -> Result<Vec<Monitor>, QueryError> {
    config.alerts.iter().map(|a| monitor(config, a)).collect()
}

/// Generates the monitor of one alert.
pub fn monitor(config: &AlertingConfig, alert: &AlertRule) -> Result<Monitor, QueryError> {
    let options = alert.effective_options(&config.defaults);
    let expr = query::with_group_by(alert.query.trim(), &options.group_by)?;
    let query = format!(
        "{}(last_{}):{} {} {}",
        alert.aggregation.as_str(),
        window(options.evaluation_window),
        expr,
        alert.comparator.as_str(),
        alert.thresholds.critical
    );
    let mut tags: Vec<String> = options
        .tags
        .into_iter()
        .chain([
            format!("severity:{}", alert.severity),
            MANAGED_BY_TAG.to_owned(),
        ])
        .collect();
    tags.sort();
    tags.dedup();
    Ok(Monitor {
        name: alert.name.clone(),
        kind: METRIC_MONITOR_TYPE.to_owned(),
        query,
        message: message(config, alert),
        tags,
        priority: alert.severity.priority(),
        options: MonitorOptions {
            thresholds: MonitorThresholds {
                critical: alert.thresholds.critical,
                warning: alert.thresholds.warning,
            },
            notify_no_data: options.notify_no_data,
            no_data_timeframe: options
                .notify_no_data
                .then_some(options.no_data_timeframe)
                .flatten()
                .map(|s| s / 60),
            renotify_interval: (options.renotify_interval > 0)
                .then_some(options.renotify_interval / 60),
            timeout_h: options.auto_resolve.map(|s| s / 3600),
            require_full_window: options.require_full_window,
            include_tags: true,
        },
    })
}

fn message(config: &AlertingConfig, alert: &AlertRule) -> String {
    let threshold = match alert.thresholds.warning {
        Some(w) => format!(
            "{} {} (warning at {w})",
            alert.comparator.as_str(),
            alert.thresholds.critical
        ),
        None => format!(
            "{} {}",
            alert.comparator.as_str(),
            alert.thresholds.critical
        ),
    };
    format!(
        "{}\n\nSeverity: {}. Threshold: {threshold}.\nRunbook: {}\n\n{}",
        alert.description.trim(),
        alert.severity,
        alert.runbook,
        config.notifications.handles(alert.severity)
    )
}

/// DataDog's `last_<n><unit>` window for a duration in seconds.
pub fn window(seconds: u64) -> String {
    match seconds {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
