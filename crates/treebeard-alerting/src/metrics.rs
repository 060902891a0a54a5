//! The metric names alert queries and dashboards may use.
//!
//! Every name comes from `treebeard-conventions`, so the layers, the alert
//! rules and the dashboards cannot drift apart; agent metrics (reported by
//! the DataDog agent itself, not by our layers) are listed in
//! [`AGENT_METRICS`] and documented in `docs/alerting.md`.

use treebeard_conventions::{host, metric_name};

/// Every `<component>.<metric>` suffix defined by `treebeard-conventions`.
pub const CONVENTION_METRICS: &[&str] = treebeard_conventions::ALL_METRICS;

/// Metrics the DataDog agent reports on its own (no namespace).
pub const AGENT_METRICS: &[&str] = &[
    host::DISK_IN_USE,
    "system.cpu.user",
    "system.cpu.system",
    "system.cpu.idle",
    "system.load.1",
    "system.mem.pct_usable",
    "system.mem.used",
    "system.mem.total",
    "system.net.bytes_rcvd",
    "system.net.bytes_sent",
];

/// The full name of a conventions metric under `namespace`.
pub fn full_name(namespace: &str, suffix: &str) -> String {
    metric_name(namespace, suffix)
}

/// Whether `name` is a conventions metric under `namespace`, an agent
/// metric, or one of `extra`.
pub fn is_known(name: &str, namespace: &str, extra: &[String]) -> bool {
    AGENT_METRICS.contains(&name)
        || extra.iter().any(|e| e == name)
        || CONVENTION_METRICS
            .iter()
            .any(|suffix| full_name(namespace, suffix) == name)
}
