//! PagerDuty events are accepted by Stoplight Prism serving PagerDuty's
//! official Events API v2 spec; an invalid event is rejected.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use treebeard_alerting::notify::{Notification, NotifyError, PagerDutyNotifier, Scrubber};
use treebeard_alerting::retry::RetryPolicy;
use treebeard_alerting::rules::Severity;

fn notifier(base: &str) -> PagerDutyNotifier {
    // Prism can hang on some bodies: always a client timeout, few retries.
    PagerDutyNotifier::new("e93facc04764012d7bfb002500d5d1a6")
        .with_base_url(base)
        .with_retry(
            RetryPolicy::default()
                .with_timeout(Duration::from_secs(5))
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(50)),
        )
}

fn sample() -> Notification {
    Notification::new(
        "API P95 latency above 2 s",
        Severity::Critical,
        "P95 latency is 2.7 s on GET /users/{id} (reported by alice@example.com)",
    )
    .with_source("treebeard-api")
    .with_group("endpoint:/users/{id}")
    .with_detail("value", "2.7")
    .with_runbook("https://runbooks.example/latency")
    .with_tags(["env:production", "service:treebeard-api"])
}

#[tokio::test(flavor = "multi_thread")]
async fn trigger_acknowledge_resolve_are_accepted_by_the_spec() {
    let (_prism, base) = common::start_prism();
    let pd = notifier(&base);
    let n = sample();
    let key = pd.trigger(&n).await.unwrap();
    assert!(!key.is_empty());
    pd.acknowledge(&n.dedup_key()).await.unwrap();
    pd.resolve(&n.dedup_key()).await.unwrap();
    for severity in [Severity::High, Severity::Medium] {
        let mut n = sample();
        n.severity = severity;
        pd.trigger(&n).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_event_is_rejected_with_400() {
    let (_prism, base) = common::start_prism();
    let pd = notifier(&base);
    let bad = json!({
        "routing_key": "e93facc04764012d7bfb002500d5d1a6",
        "event_action": "explode",
        "payload": {"summary": "no source or severity"},
    });
    match pd.send(&bad).await {
        Err(NotifyError::Rejected { status: 400, .. }) => {}
        other => panic!("expected a 400 rejection, got {other:?}"),
    }
}

#[test]
fn trigger_event_is_scrubbed_and_keyed() {
    let scrub: Arc<dyn Scrubber> = Arc::new(|s: &str| s.replace("alice@example.com", "[email]"));
    let event = notifier("http://unused")
        .with_scrubber(scrub)
        .trigger_event(&sample());
    assert_eq!(event["event_action"], "trigger");
    assert_eq!(
        event["dedup_key"],
        "treebeard/api-p95-latency-above-2-s/endpoint-users-id"
    );
    assert_eq!(event["payload"]["severity"], "critical");
    let summary = event["payload"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("[email]") && !summary.contains("alice@"),
        "{summary}"
    );
    assert_eq!(
        event["links"][0]["href"],
        "https://runbooks.example/latency"
    );
}

#[tokio::test]
async fn unreachable_pagerduty_is_an_error_not_a_panic() {
    let port = common::free_port();
    let pd = notifier(&format!("http://127.0.0.1:{port}"));
    assert!(matches!(
        pd.trigger(&sample()).await,
        Err(NotifyError::Transport { .. })
    ));
}
