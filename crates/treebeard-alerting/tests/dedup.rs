//! Dedup keys are stable across time, status and text.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, SystemTime};

use treebeard_alerting::notify::{AlertStatus, Notification, dedup_key};
use treebeard_alerting::rules::Severity;

#[test]
fn same_alert_same_key_whatever_changes() {
    let a = Notification::new("API P95 latency above 2 s", Severity::High, "p95 is 2.4 s")
        .with_timestamp(SystemTime::UNIX_EPOCH);
    let b = Notification::new(
        "API P95 latency above 2 s",
        Severity::Critical,
        "p95 is 9 s",
    )
    .with_status(AlertStatus::Resolved)
    .with_detail("value", "9")
    .with_timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(3600));
    assert_eq!(a.dedup_key(), b.dedup_key());
    assert_eq!(a.dedup_key(), "treebeard/api-p95-latency-above-2-s");
}

#[test]
fn groups_get_their_own_key() {
    let a = Notification::new("CPU above 70%", Severity::Medium, "").with_group("host:a");
    let b = Notification::new("CPU above 70%", Severity::Medium, "").with_group("host:b");
    assert_ne!(a.dedup_key(), b.dedup_key());
    assert_eq!(a.dedup_key(), "treebeard/cpu-above-70/host-a");
}

#[test]
fn keys_are_bounded() {
    let long = "x".repeat(1000);
    assert_eq!(dedup_key(&long, Some(&long)).len(), 255);
    assert_eq!(dedup_key("Ünïcode ✓ name", None), "treebeard/n-code-name");
}
