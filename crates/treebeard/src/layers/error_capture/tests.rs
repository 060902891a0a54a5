//! Grouping and status-filter rules, and which `tracing` events reach Sentry.

use ::sentry::protocol::{Context, Event, Exception, Map};
use http::StatusCode;

use super::{fingerprint, is_failed, response_event};

#[test]
fn exceptions_group_by_type_and_route_not_by_message_or_request() {
    let event = |value: &str| Event {
        exception: vec![Exception {
            ty: "DbError".into(),
            value: Some(value.into()),
            ..Default::default()
        }]
        .into(),
        tags: [("request_id".to_owned(), value.to_owned())].into(),
        ..Default::default()
    };
    let a = fingerprint(&event("timeout for user 1"), "/users/{id}");
    let b = fingerprint(&event("timeout for user 2"), "/users/{id}");
    assert_eq!(a, b);
    assert_eq!(
        a,
        Some(vec!["DbError".to_owned(), "/users/{id}".to_owned()])
    );
    assert_ne!(a, fingerprint(&event("x"), "/orders/{id}"), "per route");
}

#[test]
fn tracing_messages_group_by_call_site_and_route() {
    let event = |message: &str, line: u32| {
        let mut location = Map::new();
        location.insert("file".into(), "src/db.rs".into());
        location.insert("line".into(), line.into());
        Event {
            logger: Some("app::db".into()),
            message: Some(message.into()),
            contexts: [("Rust Tracing Location".to_owned(), Context::Other(location))].into(),
            ..Default::default()
        }
    };
    let a = fingerprint(&event("query 1 failed", 10), "/a");
    assert_eq!(a, fingerprint(&event("query 2 failed", 10), "/a"));
    assert_ne!(a, fingerprint(&event("query 1 failed", 11), "/a"));
    // A plain message keeps Sentry's own grouping.
    let plain = Event {
        message: Some("cache warmed".into()),
        ..Default::default()
    };
    assert_eq!(fingerprint(&plain, "/a"), None);
}

#[test]
fn failed_statuses_follow_the_configured_ranges() {
    let default = [500..=599];
    assert!(is_failed(&default, StatusCode::INTERNAL_SERVER_ERROR));
    assert!(is_failed(&default, StatusCode::SERVICE_UNAVAILABLE));
    assert!(!is_failed(&default, StatusCode::NOT_FOUND));
    assert!(!is_failed(&default, StatusCode::OK));
    let custom = [500..=500, 502..=504];
    assert!(!is_failed(&custom, StatusCode::NOT_IMPLEMENTED));
    assert!(is_failed(&custom, StatusCode::GATEWAY_TIMEOUT));
    assert!(!is_failed(&[], StatusCode::INTERNAL_SERVER_ERROR), "none");
}

#[test]
fn response_events_are_typed_by_the_response_error() {
    let held = [Event {
        message: Some("db down".into()),
        ..Default::default()
    }];
    let event = response_event(
        "DbError",
        "connection refused",
        StatusCode::BAD_GATEWAY,
        &held,
    );
    let exception = event.exception.last().unwrap();
    assert_eq!(exception.ty, "DbError");
    assert_eq!(exception.value.as_deref(), Some("connection refused"));
    let mechanism = exception.mechanism.as_ref().unwrap();
    assert_eq!(mechanism.handled, Some(true));
    assert_eq!(event.tags["http.status_code"], "502");
    assert_eq!(event.extra["logged_errors"], serde_json::json!(["db down"]));
}

#[test]
fn info_lines_are_breadcrumbs_of_the_error_event_but_not_the_request_line() {
    use tracing_subscriber::prelude::*;

    let subscriber = tracing_subscriber::registry().with(crate::backends::sentry::tracing_layer());
    let events = tracing::subscriber::with_default(subscriber, || {
        ::sentry::test::with_captured_events(|| {
            tracing::info!(target: "app", "step one");
            tracing::debug!(target: "app", "too fine for a breadcrumb");
            tracing::info!(target: "treebeard::request_log", "request completed");
            tracing::error!(target: "treebeard::request_log", "request failed");
            tracing::error!(target: "app", "it broke");
        })
    });
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(event.message.as_deref(), Some("it broke"));
    let crumbs: Vec<&str> = event
        .breadcrumbs
        .values
        .iter()
        .filter_map(|b| b.message.as_deref())
        .collect();
    // The request line (either outcome) is left out: the event has the
    // request. The error itself is the last breadcrumb, as sentry-tracing
    // records it.
    assert_eq!(crumbs, ["step one", "it broke"]);
}
