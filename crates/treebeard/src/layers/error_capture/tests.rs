//! Grouping and status-filter rules, and which `tracing` events reach Sentry.

use ::sentry::protocol::{Context, Event, Exception, Map};
use http::StatusCode;

use super::{fingerprint, is_failed, is_sensitive_header, request_url, response_event};

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
fn remembered_header_sensitivity_is_the_scrubbers() {
    let scrubber = treebeard_pii::Scrubber::global();
    let names = [
        "authorization",
        "cookie",
        "x-api-key",
        "x-csrf-token",
        "accept",
        "x-request-id",
    ];
    for _ in 0..2 {
        for name in names {
            let header = http::HeaderName::from_static(name);
            assert_eq!(
                is_sensitive_header(&header),
                scrubber.is_sensitive_header(name),
                "{name}"
            );
        }
    }
    assert!(is_sensitive_header(&http::HeaderName::from_static(
        "authorization"
    )));
    assert!(!is_sensitive_header(&http::HeaderName::from_static(
        "accept"
    )));
    // Past the bound, names are still answered, only not remembered.
    for i in 0..300 {
        let name = http::HeaderName::try_from(format!("x-token-{i}")).unwrap();
        assert!(is_sensitive_header(&name), "x-token-{i}");
        let name = http::HeaderName::try_from(format!("x-plain-{i}")).unwrap();
        assert!(!is_sensitive_header(&name), "x-plain-{i}");
    }
}

#[test]
fn request_urls_are_the_urls_a_full_parse_gives() {
    for (host, path) in [
        ("api.test", "/users/7"),
        ("api.test", "/a b/%41/[EMAIL]/é"),
        ("localhost:8080", "/"),
        ("127.0.0.1:3000", "/x"),
        ("[::1]:80", "/y"),
        ("api.test", "/again"),
    ] {
        let full: url::Url = format!("http://{host}{path}").parse().unwrap();
        assert_eq!(request_url(host, path), Some(full), "{host}{path}");
    }
    assert_eq!(request_url("bad host", "/"), None);
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

mod transactions {
    use ::sentry::protocol::{EnvelopeItem, SpanStatus, Transaction};
    use axum::Router;
    use axum::routing::get;
    use http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::super::ErrorCaptureLayer;
    use super::super::transaction::{Incoming, continues, span_status};

    const TRACE: &str = "771a43a4192642f0b136d5159a501700";
    const SPAN: &str = "b7ad6b7169203331";

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn a_callers_sentry_trace_is_read_with_its_organisation() {
        let incoming = Incoming::of(&headers(&[
            ("sentry-trace", &format!("{TRACE}-{SPAN}-0")),
            ("baggage", "other=1, sentry-org_id = 42 ;p=1"),
        ]))
        .unwrap();
        assert_eq!(incoming.trace_id.to_string(), TRACE);
        assert_eq!(incoming.span_id.to_string(), SPAN);
        assert_eq!(incoming.sampled, Some(false));
        assert_eq!(incoming.org_id, Some(42.into()));
        let bare = Incoming::of(&headers(&[("sentry-trace", &format!("{TRACE}-{SPAN}"))]));
        assert_eq!(bare.map(|i| i.sampled), Some(None));
        for bad in ["", "xyz-123", TRACE, &format!("{SPAN}-{TRACE}")] {
            assert_eq!(
                Incoming::of(&headers(&[("sentry-trace", bad)])),
                None,
                "{bad}"
            );
        }
        assert_eq!(
            Incoming::of(&headers(&[("baggage", "sentry-org_id=1")])),
            None
        );
    }

    #[test]
    fn a_trace_of_another_organisation_is_not_continued() {
        let (a, b) = (Some(1.into()), Some(2.into()));
        assert!(continues(a, a, true));
        assert!(!continues(a, b, false));
        assert!(continues(a, None, false) && continues(None, a, false));
        assert!(!continues(a, None, true) && !continues(None, a, true));
        assert!(continues(None, None, true));
    }

    #[test]
    fn statuses_map_as_sentrys_sdks_map_them() {
        for (status, span) in [
            (200, SpanStatus::Ok),
            (204, SpanStatus::Ok),
            (400, SpanStatus::InvalidArgument),
            (401, SpanStatus::Unauthenticated),
            (404, SpanStatus::NotFound),
            (429, SpanStatus::ResourceExhausted),
            (500, SpanStatus::InternalError),
            (501, SpanStatus::Unimplemented),
            (503, SpanStatus::Unavailable),
            (302, SpanStatus::UnknownError),
        ] {
            assert_eq!(
                span_status(StatusCode::from_u16(status).unwrap()),
                span,
                "{status}"
            );
        }
    }

    /// The transactions sent for `requests` through the layer, with a
    /// sampler that drops `GET /health` as `init`'s drops ignored routes.
    fn transactions(requests: Vec<Request<axum::body::Body>>) -> Vec<Transaction<'static>> {
        capture(requests).0
    }

    /// The transactions and events sent for `requests`.
    fn capture(
        requests: Vec<Request<axum::body::Body>>,
    ) -> (
        Vec<Transaction<'static>>,
        Vec<::sentry::protocol::Event<'static>>,
    ) {
        let options = ::sentry::ClientOptions::new().traces_sampler(|ctx| {
            if ctx.name() == "GET /health" {
                0.0
            } else {
                ctx.sampled().map_or(1.0, f32::from)
            }
        });
        let envelopes = ::sentry::test::with_captured_envelopes_options(
            || {
                let layer = ErrorCaptureLayer {
                    active: true,
                    statuses: vec![500..=599].into(),
                    transactions: true,
                };
                let app = Router::new()
                    .route("/users/{id}", get(|| async { "user" }))
                    .route("/health", get(|| async { "ok" }))
                    .route("/fail", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
                    .route("/hang", get(std::future::pending::<&str>))
                    .route(
                        "/report",
                        get(|| async {
                            ::sentry::capture_message("inside", ::sentry::Level::Warning);
                            "reported"
                        }),
                    )
                    .route(
                        "/tagged",
                        get(|| async {
                            ::sentry::configure_scope(|scope| {
                                scope.set_tag("customer", "bob@example.com");
                                scope.set_tag("api_key", "k-123");
                                // Card-like, but one of TreeBeard's own IDs.
                                scope.set_tag("dd.span_id", "4111111111111111");
                                scope.set_extra("password", "hunter2".into());
                                scope.set_extra("note", "mail bob@example.com".into());
                            });
                            "tagged"
                        }),
                    )
                    .route_layer(layer);
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .unwrap();
                for request in requests {
                    // A request that never answers is given up, as by a
                    // client that went away.
                    let call = app.clone().oneshot(request);
                    let limit = std::time::Duration::from_millis(50);
                    let _ = runtime.block_on(async { tokio::time::timeout(limit, call).await });
                }
            },
            options,
        );
        let items = || envelopes.iter().flat_map(|e| e.items());
        (
            items()
                .filter_map(|item| match item {
                    EnvelopeItem::Transaction(t) => Some((**t).clone()),
                    _ => None,
                })
                .collect(),
            items()
                .filter_map(|item| match item {
                    EnvelopeItem::Event(e) => Some((**e).clone()),
                    _ => None,
                })
                .collect(),
        )
    }

    fn get_(uri: &str, extra: &[(&str, &str)]) -> Request<axum::body::Body> {
        let mut builder = Request::get(uri).header("host", "api.test");
        for (k, v) in extra {
            builder = builder.header(*k, *v);
        }
        builder.body(axum::body::Body::empty()).unwrap()
    }

    fn trace<'a>(t: &'a Transaction<'static>) -> &'a ::sentry::protocol::TraceContext {
        match t.contexts.get("trace") {
            Some(::sentry::protocol::Context::Trace(trace)) => trace,
            other => panic!("no trace context: {other:?}"),
        }
    }

    #[test]
    fn sampled_requests_are_sent_as_transactions_named_by_route() {
        let caller = format!("{TRACE}-{SPAN}-1");
        let sent = transactions(vec![
            get_("/users/7?token=abc", &[("authorization", "Bearer x")]),
            get_("/health", &[]),
            get_("/fail", &[("sentry-trace", &caller)]),
            get_(
                "/users/8",
                &[("sentry-trace", &format!("{TRACE}-{SPAN}-0"))],
            ),
        ]);
        let names: Vec<_> = sent.iter().map(|t| t.name.as_deref().unwrap()).collect();
        assert_eq!(names, ["GET /users/{id}", "GET /fail"], "{sent:#?}");

        let user = &sent[0];
        let ctx = trace(user);
        assert_eq!(ctx.op.as_deref(), Some("http.server"));
        assert_eq!(ctx.status, Some(SpanStatus::Ok));
        assert_eq!(ctx.parent_span_id, None);
        assert_eq!(ctx.data["http.response.status_code"], 200);
        assert!(user.timestamp.unwrap() >= user.start_timestamp);
        assert_eq!(user.tags["http.route"], "/users/{id}");
        let request = user.request.as_ref().unwrap();
        assert_eq!(request.method.as_deref(), Some("GET"));
        assert_eq!(
            request.url.as_ref().unwrap().as_str(),
            "http://api.test/users/7"
        );
        assert!(
            !request.headers.contains_key("authorization"),
            "{request:?}"
        );
        assert_eq!(user.platform, "native");
        assert!(user.sdk.is_some());

        let failed = trace(&sent[1]);
        assert_eq!(failed.trace_id.to_string(), TRACE, "the caller's trace");
        assert_eq!(
            failed.parent_span_id.map(|s| s.to_string()).as_deref(),
            Some(SPAN)
        );
        assert_ne!(failed.span_id.to_string(), SPAN, "a span of its own");
        assert_eq!(failed.status, Some(SpanStatus::Unavailable));
    }

    #[test]
    fn events_inside_a_request_carry_its_transactions_trace() {
        let (sent, events) = capture(vec![
            get_("/report", &[]),
            get_("/report", &[("sentry-trace", &format!("{TRACE}-{SPAN}-0"))]),
        ]);
        assert_eq!(sent.len(), 1, "{sent:#?}");
        assert_eq!(events.len(), 2, "{events:#?}");
        let linked = match events[0].contexts.get("trace") {
            Some(::sentry::protocol::Context::Trace(t)) => t,
            other => panic!("no trace context: {other:?}"),
        };
        let ctx = trace(&sent[0]);
        assert_eq!(
            (linked.trace_id, linked.span_id),
            (ctx.trace_id, ctx.span_id)
        );
        // Not sampled, still in the caller's trace.
        let unsampled = match events[1].contexts.get("trace") {
            Some(::sentry::protocol::Context::Trace(t)) => t,
            other => panic!("no trace context: {other:?}"),
        };
        assert_eq!(unsampled.trace_id.to_string(), TRACE);
        assert_eq!(
            unsampled.parent_span_id.map(|s| s.to_string()).as_deref(),
            Some(SPAN)
        );
        assert_ne!(unsampled.trace_id, linked.trace_id, "one trace per request");
    }

    #[test]
    fn a_request_given_up_is_an_aborted_transaction() {
        let sent = transactions(vec![get_("/hang", &[])]);
        assert_eq!(sent.len(), 1, "{sent:#?}");
        assert_eq!(sent[0].name.as_deref(), Some("GET /hang"));
        let ctx = trace(&sent[0]);
        assert_eq!(ctx.status, Some(SpanStatus::Aborted));
        assert!(!ctx.data.contains_key("http.response.status_code"));
    }

    #[test]
    fn what_the_handler_sets_on_its_scope_is_scrubbed_in_the_transaction() {
        let sent = transactions(vec![get_("/tagged", &[])]);
        assert_eq!(sent.len(), 1, "{sent:#?}");
        let t = &sent[0];
        assert_eq!(t.tags["customer"], "[EMAIL]");
        assert_eq!(t.tags["api_key"], "[REDACTED]");
        assert_eq!(t.tags["dd.span_id"], "4111111111111111");
        assert_eq!(t.extra["password"], "[REDACTED]");
        assert_eq!(t.extra["note"], "mail [EMAIL]");
    }
}
