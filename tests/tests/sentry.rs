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

/// The transaction of the request with tag `request_id` = `id`.
fn transaction_of<'a>(transactions: &'a [Value], id: &str) -> &'a Value {
    let found: Vec<&Value> = transactions
        .iter()
        .filter(|t| t["tags"]["request_id"] == id)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one transaction for {id}: {transactions:#?}"
    );
    found[0]
}

/// A caller's `sentry-trace`: trace ID, span ID, sampled flag.
const CALLER_TRACE: &str = "771a43a4192642f0b136d5159a501700";
const CALLER_SPAN: &str = "b7ad6b7169203331";

#[tokio::test]
async fn with_traces_sampled_requests_send_transactions_and_errors_keep_their_context() {
    let spotlight = Spotlight::start();
    let api = start(&spotlight, &[("SENTRY_TRACES_SAMPLE_RATE", "1.0")]);
    // A probe first: MONITORING_IGNORE_ROUTES' default makes it none.
    assert_eq!(get(&api, "/health", "tx-probe").await, 200);
    assert_eq!(get(&api, "/users/1", "tx-ok").await, 200);
    assert_eq!(get(&api, "/demo/panic", "tx-panic").await, 500);
    assert_eq!(get(&api, "/users/999", "tx-404").await, 404);
    // A caller's trace is continued, and its "not sampled" is kept.
    let traced = |path: &str, id: &str, sampled: &str| {
        client()
            .get(api.url(path))
            .header("x-request-id", id)
            .header(
                "sentry-trace",
                format!("{CALLER_TRACE}-{CALLER_SPAN}-{sampled}"),
            )
            .header(
                "baggage",
                "sentry-trace_id=771a43a4192642f0b136d5159a501700,other=1",
            )
            .send()
    };
    assert_eq!(
        traced("/users/2", "tx-continued", "1")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        traced("/users/3", "tx-unsampled", "0")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        traced("/demo/error", "tx-error", "1")
            .await
            .unwrap()
            .status(),
        500
    );

    // One transaction per request but the probe and the caller's unsampled
    // one, named after the method and route template.
    let transactions =
        spotlight.wait_for_items("transaction", "five transactions", |t| t.len() >= 5);
    let mut names: Vec<&str> = transactions
        .iter()
        .filter_map(|t| t["transaction"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "GET /demo/error",
            "GET /demo/panic",
            "GET /users/{id}",
            "GET /users/{id}",
            "GET /users/{id}"
        ],
        "{transactions:#?}"
    );

    let ok = transaction_of(&transactions, "tx-ok");
    let trace = &ok["contexts"]["trace"];
    assert_eq!(trace["op"], "http.server", "{ok:#}");
    assert_eq!(trace["status"], "ok");
    assert_eq!(trace["data"]["http.response.status_code"], 200);
    assert_eq!(ok["release"], "example-api@1.2.3");
    assert_eq!(ok["environment"], "e2e");
    assert_eq!(ok["tags"]["http.route"], "/users/{id}");
    // The request span's DataDog IDs, as on the request line; the new
    // trace's Sentry IDs are the same IDs.
    let line = api.request_line("tx-ok");
    assert_eq!(ok["tags"]["dd.trace_id"], line["dd.trace_id"], "{ok:#}");
    assert_eq!(ok["tags"]["dd.span_id"], line["dd.span_id"]);
    let span_id: u64 = line["dd.span_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(trace["span_id"], format!("{span_id:016x}"));
    assert!(
        trace.get("parent_span_id").is_none(),
        "a new trace: {trace:#}"
    );
    // Start as seconds, end as RFC 3339: as sentry-types writes them.
    assert!(ok["start_timestamp"].as_f64().unwrap() > 0.0, "{ok:#}");
    assert!(ok["timestamp"].as_str().unwrap().ends_with('Z'), "{ok:#}");
    // The request, scrubbed: no credentials.
    let request = &ok["request"];
    assert_eq!(request["method"], "GET");
    assert!(
        request["url"].as_str().unwrap().ends_with("/users/1"),
        "{request:#}"
    );
    assert!(
        !ok.to_string().contains("sekr3t"),
        "a secret leaked: {ok:#}"
    );

    let failed = transaction_of(&transactions, "tx-panic");
    assert_eq!(failed["contexts"]["trace"]["status"], "internal_error");
    let missing = transaction_of(&transactions, "tx-404");
    assert_eq!(missing["contexts"]["trace"]["status"], "not_found");
    assert_eq!(missing["transaction"], "GET /users/{id}");

    // The caller's trace goes on: its trace ID, its span the parent.
    let continued = transaction_of(&transactions, "tx-continued");
    assert_eq!(continued["contexts"]["trace"]["trace_id"], CALLER_TRACE);
    assert_eq!(
        continued["contexts"]["trace"]["parent_span_id"],
        CALLER_SPAN
    );
    assert!(
        transactions.iter().all(|t| !["tx-probe", "tx-unsampled"]
            .contains(&t["tags"]["request_id"].as_str().unwrap_or(""))),
        "{transactions:#?}"
    );

    // Errors inside a transaction: one event each, with the request's
    // context and the transaction's trace, so Sentry links them.
    let events = spotlight.wait_for("the panic and the error", |events| {
        !with_request_id(events, "tx-panic").is_empty()
            && !with_request_id(events, "tx-error").is_empty()
    });
    let panic = with_request_id(&events, "tx-panic");
    assert_eq!(panic.len(), 1, "{panic:#?}");
    assert_common(panic[0], &api, "tx-panic", "/demo/panic");
    for (event, transaction) in [
        (panic[0], failed),
        (
            with_request_id(&events, "tx-error")[0],
            transaction_of(&transactions, "tx-error"),
        ),
    ] {
        let (event_trace, trace) = (
            &event["contexts"]["trace"],
            &transaction["contexts"]["trace"],
        );
        assert_eq!(event_trace["trace_id"], trace["trace_id"], "{event:#}");
        assert_eq!(event_trace["span_id"], trace["span_id"], "{event:#}");
    }
    let error = with_request_id(&events, "tx-error")[0];
    assert_eq!(error["contexts"]["trace"]["trace_id"], CALLER_TRACE);

    // Every transaction is valid for Sentry itself.
    for (transaction, errors) in transactions.iter().zip(normalizer_errors(&transactions)) {
        assert_eq!(
            errors,
            serde_json::json!([]),
            "relay rejects {transaction:#}"
        );
    }
}

#[tokio::test]
async fn a_transaction_carries_the_user_its_handler_set_hashed() {
    let spotlight = Spotlight::start();
    let api = start(&spotlight, &[("SENTRY_TRACES_SAMPLE_RATE", "1.0")]);
    let status = client()
        .post(api.url("/demo/echo-error/alice@example.com?card=4111111111111111"))
        .header("x-request-id", "tx-user")
        .body("{}")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 500);
    let transactions =
        spotlight.wait_for_items("transaction", "the transaction", |t| !t.is_empty());
    let transaction = transaction_of(&transactions, "tx-user");
    assert_eq!(transaction["transaction"], "POST /demo/echo-error/{user}");
    let user = transaction["user"]["id"].as_str().unwrap();
    assert_eq!(user.len(), 32, "a keyed hash: {transaction:#}");
    let text = transaction.to_string();
    for secret in ["alice", "4111111111111111"] {
        assert!(!text.contains(secret), "{secret} leaked: {transaction:#}");
    }
    // Its error event belongs to the same user and trace.
    let events = spotlight.wait_for("the error", |e| !with_request_id(e, "tx-user").is_empty());
    let event = with_request_id(&events, "tx-user")[0];
    assert_eq!(event["user"]["id"], user);
    assert_eq!(
        event["contexts"]["trace"]["trace_id"],
        transaction["contexts"]["trace"]["trace_id"]
    );
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
