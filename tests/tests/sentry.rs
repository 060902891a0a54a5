//! Sentry events from the example API, received by a real Sentry envelope
//! endpoint (the Spotlight sidecar) and checked with Sentry's own
//! normaliser (`sentry-relay`).

use serde_json::Value;
use treebeard_e2e::sentry_peers::{Spotlight, normalizer_errors};
use treebeard_e2e::{ExampleApi, client};

/// A port nothing listens on: the trace exporter runs (so requests have
/// DataDog IDs) and its payloads are lost, which costs requests nothing.
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(spotlight: &Spotlight, extra: &[(&str, &str)]) -> ExampleApi {
    let dsn = spotlight.dsn();
    let agent = format!("http://127.0.0.1:{}", dead_port());
    let mut env = vec![
        ("DD_SERVICE", "e2e-api"),
        ("DD_ENV", "test"),
        ("DD_VERSION", "9.9.9"),
        ("APM_PROVIDER", "datadog"),
        ("DD_TRACE_AGENT_URL", agent.as_str()),
        ("METRICS_BACKEND", "none"),
        ("SENTRY_DSN", dsn.as_str()),
        ("SENTRY_ENVIRONMENT", "e2e"),
        ("SENTRY_RELEASE", "example-api@1.2.3"),
    ];
    env.extend_from_slice(extra);
    ExampleApi::start(&env)
}

fn with_request_id<'a>(events: &'a [Value], id: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["tags"]["request_id"] == id)
        .collect()
}

async fn get(api: &ExampleApi, path: &str, request_id: &str) -> u16 {
    client()
        .get(api.url(path))
        .header("x-request-id", request_id)
        .header("authorization", "Bearer sekr3ttoken998877")
        .header("cookie", "session=sekr3tcookie")
        .header("x-api-key", "sekr3tapikey")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn assert_common(event: &Value, api: &ExampleApi, request_id: &str, route: &str) {
    assert_eq!(event["platform"], "native", "{event:#}");
    assert_eq!(event["release"], "example-api@1.2.3");
    assert_eq!(event["environment"], "e2e");
    assert_eq!(event["transaction"], route);
    assert_eq!(event["tags"]["http.route"], route);
    // The DataDog IDs are the request span's: the same as on its log line.
    let line = api.request_line(request_id);
    assert_eq!(
        event["tags"]["dd.trace_id"], line["dd.trace_id"],
        "{event:#}"
    );
    assert_eq!(event["tags"]["dd.span_id"], line["dd.span_id"]);
    assert_ne!(event["tags"]["dd.trace_id"], "0");
    let request = &event["request"];
    assert_eq!(request["method"], "GET");
    let url = request["url"].as_str().unwrap();
    assert!(
        url.ends_with(route.split('{').next().unwrap_or(route)) || url.contains("/demo/"),
        "{url}"
    );
    let headers = request["headers"].to_string().to_ascii_lowercase();
    for name in ["authorization", "cookie", "x-api-key"] {
        assert!(
            !headers.contains(&format!("\"{name}\"")),
            "{name} sent: {headers}"
        );
    }
    assert!(
        !event.to_string().contains("sekr3t"),
        "a secret leaked: {event:#}"
    );
}

#[tokio::test]
async fn panics_and_failed_responses_become_one_valid_event_each() {
    let spotlight = Spotlight::start();
    let api = start(&spotlight, &[]);

    assert_eq!(
        get(
            &api,
            "/demo/panic?email=bob@example.com&page=2",
            "e2e-panic-1"
        )
        .await,
        500
    );
    assert_eq!(
        get(&api, "/demo/error?token=sekr3tquery&page=3", "e2e-error-1").await,
        500
    );
    assert_eq!(get(&api, "/demo/error", "e2e-error-2").await, 500);
    assert_eq!(get(&api, "/health", "e2e-ok-1").await, 200);
    assert_eq!(get(&api, "/users/999", "e2e-404-1").await, 404);

    let events = spotlight.wait_for("the three failures", |events| {
        ["e2e-panic-1", "e2e-error-1", "e2e-error-2"]
            .iter()
            .all(|id| !with_request_id(events, id).is_empty())
    });

    // The panic: one event from Sentry's panic integration, with its stack.
    let panic = with_request_id(&events, "e2e-panic-1");
    assert_eq!(panic.len(), 1, "one event per panic: {panic:#?}");
    let panic = panic[0];
    assert_common(panic, &api, "e2e-panic-1", "/demo/panic");
    let exception = panic["exception"]["values"]
        .as_array()
        .unwrap()
        .last()
        .unwrap();
    assert_eq!(exception["type"], "panic");
    assert_eq!(
        exception["value"],
        "demo panic: something impossible happened"
    );
    assert_eq!(exception["mechanism"]["handled"], false);
    assert!(
        exception["stacktrace"]["frames"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
    );
    assert_eq!(panic["level"], "fatal");
    let query = panic["request"]["query_string"].as_str().unwrap();
    assert!(
        query.contains("page=2") && !query.contains("bob@example.com"),
        "{query}"
    );

    // The handler error: typed by its ResponseError, the ERROR log folded in.
    let error = with_request_id(&events, "e2e-error-1");
    assert_eq!(error.len(), 1, "one event per failed request: {error:#?}");
    let error = error[0];
    assert_common(error, &api, "e2e-error-1", "/demo/error");
    let exception = error["exception"]["values"]
        .as_array()
        .unwrap()
        .last()
        .unwrap();
    assert_eq!(exception["type"], "InternalError");
    assert_eq!(
        exception["value"],
        "demo failure: the flux capacitor is out of flux"
    );
    assert_eq!(error["tags"]["http.status_code"], "500");
    assert_eq!(
        error["extra"]["logged_errors"],
        serde_json::json!(["request failed"])
    );
    assert!(
        !error["request"]["query_string"]
            .as_str()
            .unwrap()
            .contains("sekr3tquery")
    );

    // Grouping: same error type and route, different requests → one issue.
    let other = with_request_id(&events, "e2e-error-2")[0];
    assert_eq!(error["fingerprint"], other["fingerprint"]);
    assert_eq!(
        error["fingerprint"],
        serde_json::json!(["InternalError", "/demo/error"])
    );
    assert_ne!(panic["fingerprint"], error["fingerprint"]);

    // Successes and client errors send nothing.
    assert!(with_request_id(&events, "e2e-ok-1").is_empty());
    assert!(with_request_id(&events, "e2e-404-1").is_empty());

    // Every event is valid for Sentry itself.
    for (event, errors) in events.iter().zip(normalizer_errors(&events)) {
        assert_eq!(errors, serde_json::json!([]), "relay rejects {event:#}");
    }
}

#[tokio::test]
async fn without_a_dsn_sentry_is_off_and_says_so_once() {
    let api = ExampleApi::start(&[("APM_PROVIDER", "none"), ("METRICS_BACKEND", "none")]);
    let off: Vec<Value> = api
        .logs()
        .into_iter()
        .filter(|l| l["message"].as_str().is_some_and(|m| m.contains("Sentry")))
        .collect();
    assert_eq!(off.len(), 1, "{off:#?}");
    assert_eq!(off[0]["level"], "INFO");
    assert_eq!(
        off[0]["message"],
        "Sentry error tracking is off: SENTRY_DSN is not set"
    );
    assert_eq!(get(&api, "/demo/panic", "no-sentry").await, 500);
}

#[tokio::test]
async fn pending_events_are_flushed_at_shutdown() {
    let spotlight = Spotlight::start();
    let mut api = start(&spotlight, &[]);
    for i in 0..5 {
        get(&api, "/demo/error", &format!("flush-{i}")).await;
    }
    assert!(api.terminate().success());
    let events = spotlight.events();
    for i in 0..5 {
        assert_eq!(
            with_request_id(&events, &format!("flush-{i}")).len(),
            1,
            "flush-{i}"
        );
    }
}

#[tokio::test]
async fn an_event_carries_its_own_requests_breadcrumbs_only() {
    let spotlight = Spotlight::start();
    let api = start(&spotlight, &[]);
    // INFO lines of another request ("user loaded") and of start-up
    // ("listening") must not show up in this request's event.
    assert_eq!(get(&api, "/users/1", "crumbs-ok").await, 200);
    assert_eq!(get(&api, "/demo/error", "crumbs-error").await, 500);
    let events = spotlight.wait_for("the failure", |events| {
        !with_request_id(events, "crumbs-error").is_empty()
    });
    let event = with_request_id(&events, "crumbs-error")[0];
    let messages: Vec<&str> = event["breadcrumbs"]["values"]
        .as_array()
        .map(|v| v.iter().filter_map(|b| b["message"].as_str()).collect())
        .unwrap_or_default();
    assert!(messages.contains(&"request failed"), "{event:#}");
    for foreign in ["user loaded", "listening", "request completed"] {
        assert!(
            !messages.iter().any(|m| m.contains(foreign)),
            "{foreign:?} in {messages:?}"
        );
    }
}

#[tokio::test]
async fn with_traces_sampled_requests_send_transactions_and_errors_keep_their_context() {
    let spotlight = Spotlight::start();
    let api = start(&spotlight, &[("SENTRY_TRACES_SAMPLE_RATE", "1.0")]);
    // A probe first: MONITORING_IGNORE_ROUTES' default makes it none.
    assert_eq!(get(&api, "/health", "tx-probe").await, 200);
    assert_eq!(get(&api, "/users/1", "tx-ok").await, 200);
    assert_eq!(get(&api, "/demo/panic", "tx-panic").await, 500);

    // One transaction per request but the probe, named by sentry-tower
    // after the route.
    let transactions =
        spotlight.wait_for_items("transaction", "both transactions", |t| t.len() >= 2);
    let mut names: Vec<&str> = transactions
        .iter()
        .filter_map(|t| t["transaction"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["GET /demo/panic", "GET /users/{id}"],
        "{transactions:#?}"
    );
    let failed = transactions
        .iter()
        .find(|t| t["transaction"] == "GET /demo/panic")
        .unwrap();
    assert_eq!(failed["contexts"]["trace"]["status"], "internal_error");

    // The panic inside the transaction is still one event with the
    // request's context.
    let events = spotlight.wait_for("the panic", |events| {
        !with_request_id(events, "tx-panic").is_empty()
    });
    let panic = with_request_id(&events, "tx-panic");
    assert_eq!(panic.len(), 1, "{panic:#?}");
    assert_common(panic[0], &api, "tx-panic", "/demo/panic");
}

#[tokio::test]
async fn a_body_that_fails_mid_stream_is_one_event_with_the_requests_context() {
    let spotlight = Spotlight::start();
    let api = start(&spotlight, &[]);
    // The head says 200; the body breaks after its first line.
    let response = client()
        .get(api.url("/demo/broken-stream"))
        .header("x-request-id", "e2e-broken-body")
        .send()
        .await;
    if let Ok(response) = response {
        assert_eq!(response.status(), 200);
        assert!(response.bytes().await.is_err(), "a truncated body");
    }
    let events = spotlight.wait_for("the body error", |events| {
        !with_request_id(events, "e2e-broken-body").is_empty()
    });
    let found = with_request_id(&events, "e2e-broken-body");
    assert_eq!(found.len(), 1, "one event: {found:#?}");
    let event = found[0];
    let exception = &event["exception"]["values"][0];
    assert_eq!(exception["type"], "ResponseBodyError", "{event:#}");
    assert!(
        exception["value"]
            .as_str()
            .unwrap()
            .contains("the export source went away"),
        "{event:#}"
    );
    assert_eq!(event["tags"]["http.route"], "/demo/broken-stream");
    assert_eq!(event["request"]["method"], "GET", "the request's context");
    assert_eq!(
        event["fingerprint"],
        serde_json::json!(["ResponseBodyError", "/demo/broken-stream"])
    );
    let line = api.wait_for_log(|l| {
        l["request_id"] == "e2e-broken-body" && l["message"] == "response body failed"
    });
    assert_eq!(
        event["tags"]["dd.trace_id"], line["dd.trace_id"],
        "{event:#}"
    );
    assert_eq!(
        normalizer_errors(std::slice::from_ref(event)),
        [serde_json::json!([])],
        "relay rejects {event:#}"
    );
}
