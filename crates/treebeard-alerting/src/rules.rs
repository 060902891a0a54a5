//! The alert-rules model of `infrastructure/alerting-config.yml`.
//!
//! The schema is documented field by field in `docs/alerting.md`. All
//! durations are whole **seconds**; the monitor generator converts them to
//! the units DataDog expects (minutes, hours, `last_5m`).

use serde::{Deserialize, Serialize};

use crate::routing::Notifications;

/// Re-exported from [`crate::severity`], where it moved so that `rules` and
/// `routing` no longer import each other; this path keeps working.
pub use crate::severity::Severity;

/// The path of the alert rules inside a TreeBeard repository.
pub const DEFAULT_CONFIG_PATH: &str = "infrastructure/alerting-config.yml";

/// Default evaluation window, in seconds (5 minutes).
pub const DEFAULT_EVALUATION_WINDOW: u64 = 300;

/// Default re-notification interval, in seconds (1 hour).
pub const DEFAULT_RENOTIFY_INTERVAL: u64 = 3600;

/// The whole `alerting-config.yml` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Schema version; only `1` exists.
    #[serde(default = "default_version")]
    pub version: u32,
    /// Metric namespace the layers emit under (`treebeard` unless changed).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Options applied to every alert unless the alert overrides them.
    #[serde(default)]
    pub defaults: AlertDefaults,
    /// Where alerts of each severity are sent.
    #[serde(default)]
    pub notifications: Notifications,
    /// Metric names that are neither TreeBeard conventions nor known agent
    /// metrics but may still appear in queries (your own metrics).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_metrics: Vec<String>,
    /// The alert rules.
    pub alerts: Vec<AlertRule>,
}

fn default_version() -> u32 {
    1
}

fn default_namespace() -> String {
    treebeard_conventions::DEFAULT_NAMESPACE.to_owned()
}

/// Alert-fatigue options: the `defaults:` section shared by all alerts
/// (each alert may override), and also, as [`EffectiveOptions`], the
/// options of one alert once the defaults are applied.
///
/// One type serves both so the two lists of fields cannot drift apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertDefaults {
    /// Seconds of data each evaluation looks at (`last_5m` for 300).
    pub evaluation_window: u64,
    /// Seconds between repeated notifications while an alert stays
    /// triggered; `0` notifies once.
    pub renotify_interval: u64,
    /// Tags to group by: one alert per group (multi-alert) instead of one
    /// for the whole service.
    pub group_by: Vec<String>,
    /// Whether missing data triggers a notification.
    pub notify_no_data: bool,
    /// Seconds without data before a no-data notification (when enabled).
    pub no_data_timeframe: Option<u64>,
    /// Seconds after which a triggered alert without new data resolves by
    /// itself (DataDog `timeout_h`; whole hours, at most 24 h).
    pub auto_resolve: Option<u64>,
    /// Whether DataDog waits for a full window of data before evaluating.
    pub require_full_window: bool,
    /// Tags added to every monitor (`env:production`, `team:...`); in an
    /// alert's effective options, these followed by the alert's own `tags`.
    pub tags: Vec<String>,
}

impl Default for AlertDefaults {
    fn default() -> Self {
        Self {
            evaluation_window: DEFAULT_EVALUATION_WINDOW,
            renotify_interval: DEFAULT_RENOTIFY_INTERVAL,
            group_by: Vec::new(),
            notify_no_data: false,
            no_data_timeframe: None,
            auto_resolve: None,
            require_full_window: false,
            tags: Vec::new(),
        }
    }
}

/// One alert rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// Unique name; becomes the monitor name and the PagerDuty dedup key.
    pub name: String,
    /// DataDog metric expression without time aggregation or comparison,
    /// e.g. `p95:treebeard.api.request.duration{env:production}`.
    pub query: String,
    /// How values are aggregated over the evaluation window.
    #[serde(default)]
    pub aggregation: TimeAggregation,
    /// How the value is compared with the thresholds.
    #[serde(default)]
    pub comparator: Comparator,
    /// Critical and (optional) warning thresholds.
    pub thresholds: Thresholds,
    /// Severity, which decides the routing.
    pub severity: Severity,
    /// Tags of this alert, added to the defaults.
    #[serde(default)]
    pub tags: Vec<String>,
    /// What the alert means, shown at the top of every notification.
    pub description: String,
    /// Link to the runbook to follow when the alert fires.
    pub runbook: String,
    /// Overrides [`AlertDefaults::evaluation_window`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation_window: Option<u64>,
    /// Overrides [`AlertDefaults::renotify_interval`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renotify_interval: Option<u64>,
    /// Overrides [`AlertDefaults::group_by`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<Vec<String>>,
    /// Overrides [`AlertDefaults::notify_no_data`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_no_data: Option<bool>,
    /// Overrides [`AlertDefaults::no_data_timeframe`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_data_timeframe: Option<u64>,
    /// Overrides [`AlertDefaults::auto_resolve`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_resolve: Option<u64>,
}

/// Critical and warning thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// The value that triggers the alert.
    pub critical: f64,
    /// An earlier value that triggers a warning (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<f64>,
}

/// Time aggregation of a metric monitor over its evaluation window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeAggregation {
    /// Average of the window (the default).
    #[default]
    Avg,
    /// Sum of the window (use with `.as_count()`).
    Sum,
    /// Minimum of the window: the value stayed above the threshold all along.
    Min,
    /// Maximum of the window: the value crossed the threshold at least once.
    Max,
}

impl TimeAggregation {
    /// The DataDog keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Avg => "avg",
            Self::Sum => "sum",
            Self::Min => "min",
            Self::Max => "max",
        }
    }
}

/// Comparison of the aggregated value with the thresholds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparator {
    /// Alert above the threshold (the default).
    #[default]
    #[serde(rename = ">")]
    Above,
    /// Alert at or above the threshold.
    #[serde(rename = ">=")]
    AboveOrEqual,
    /// Alert below the threshold (hit rates, availability).
    #[serde(rename = "<")]
    Below,
    /// Alert at or below the threshold.
    #[serde(rename = "<=")]
    BelowOrEqual,
}

impl Comparator {
    /// The operator as written in a DataDog query.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Above => ">",
            Self::AboveOrEqual => ">=",
            Self::Below => "<",
            Self::BelowOrEqual => "<=",
        }
    }

    /// Whether larger values are worse.
    pub fn is_upper_bound(self) -> bool {
        matches!(self, Self::Above | Self::AboveOrEqual)
    }
}

/// The options of one alert once defaults are applied (see
/// [`AlertRule::effective_options`]).
///
/// Kept as a name of its own for readability and for callers of the former
/// separate struct: it has the fields of [`AlertDefaults`].
pub type EffectiveOptions = AlertDefaults;

impl AlertRule {
    /// Applies `defaults` to the options this alert leaves unset; its tags
    /// are added to the default tags.
    pub fn effective_options(&self, defaults: &AlertDefaults) -> EffectiveOptions {
        EffectiveOptions {
            evaluation_window: self.evaluation_window.unwrap_or(defaults.evaluation_window),
            renotify_interval: self.renotify_interval.unwrap_or(defaults.renotify_interval),
            group_by: self
                .group_by
                .clone()
                .unwrap_or_else(|| defaults.group_by.clone()),
            notify_no_data: self.notify_no_data.unwrap_or(defaults.notify_no_data),
            no_data_timeframe: self.no_data_timeframe.or(defaults.no_data_timeframe),
            auto_resolve: self.auto_resolve.or(defaults.auto_resolve),
            require_full_window: defaults.require_full_window,
            tags: defaults.tags.iter().chain(&self.tags).cloned().collect(),
        }
    }
}
