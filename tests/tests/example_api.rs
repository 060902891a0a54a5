//! The example API as a real process: responses and the JSON log lines.

use serde_json::Value;
use treebeard_e2e::{ExampleApi, client};

const ENV: &[(&str, &str)] = &[
    ("DD_SERVICE", "e2e-api"),
    ("DD_ENV", "test"),
    ("DD_VERSION", "9.9.9"),
    ("APM_PROVIDER", "none"),
    ("METRICS_BACKEND", "none"),
];

async fn get(api: &ExampleApi, path: &str) -> (u16, String, Value) {
    let res = client().get(api.url(path)).send().await.unwrap();
    let status = res.status().as_u16();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, id, body)
}

fn assert_correlated(line: &Value, request_id: &str) {
    assert_eq!(line["request_id"], request_id, "{line}");
    for key in ["dd.trace_id", "dd.span_id"] {
        let id = line[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} missing: {line}"));
        assert!(
            id.bytes().all(|b| b.is_ascii_digit()),
            "{key} is decimal: {line}"
        );
    }
    assert_eq!(line["dd.service"], "e2e-api");
    assert_eq!(line["dd.env"], "test");
    assert_eq!(line["dd.version"], "9.9.9");
}

#[tokio::test]
async fn users_answer_and_log_one_line_each_with_the_route_template_and_probes_none() {
    let api = ExampleApi::start(ENV);
    let (status, health_id, body) = get(&api, "/health").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    assert!(uuid_like(&health_id), "{health_id}");

    let (status, id, body) = get(&api, "/users/1").await;
    assert_eq!(status, 200);
    assert_eq!(body["name"], "Ada");
    assert!(body.get("email").is_none(), "email is never returned");

    let line = api.request_line(&id);
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["http.method"], "GET");
    assert_eq!(line["http.route"], "/users/{id}");
    assert_eq!(line["http.status_code"], 200);
    assert_eq!(line["network.client.ip"], "127.0.0.1", "{line}");
    assert!(
        line.get("status").is_none(),
        "`status` is DataDog's severity: {line}"
    );
    assert!(line["latency_ms"].as_f64().unwrap() >= 0.0);
    assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_correlated(&line, &id);

    // The handler's own line carries the same request fields.
    let handler =
        api.wait_for_log(|l| l["message"] == "user loaded" && l["request_id"] == id.as_str());
    assert_eq!(handler["http.route"], "/users/{id}");
    assert_correlated(&handler, &id);

    // Exactly one request line per request, and never the raw path.
    let lines: Vec<Value> = api
        .logs()
        .into_iter()
        .filter(|l| l["request_id"] == id.as_str())
        .collect();
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["message"] == "request completed")
            .count(),
        1
    );
    // The path is DataDog's `http.url_details.path` of the request line,
    // and nowhere else: grouping is by the template.
    assert_eq!(api.request_line(&id)["http.url_details.path"], "/users/1");
    assert!(
        !without_path(&api).contains("/users/1\""),
        "raw path leaked into logs"
    );
    // `/health` is a probe (MONITORING_IGNORE_ROUTES' default): no line.
    assert!(
        !api.logs()
            .iter()
            .any(|l| l["request_id"] == health_id.as_str()),
        "{:?}",
        api.logs()
    );
}

#[tokio::test]
async fn ignored_routes_can_be_changed_or_switched_off() {
    let api = ExampleApi::start(&[
        ("APM_PROVIDER", "none"),
        ("METRICS_BACKEND", "none"),
        ("MONITORING_IGNORE_ROUTES", "/users/{id}"),
    ]);
    let (_, users, _) = get(&api, "/users/1").await;
    let (_, health, _) = get(&api, "/health").await;
    assert_eq!(api.request_line(&health)["http.route"], "/health");
    assert!(
        !api.logs()
            .iter()
            .any(|l| l["request_id"] == users.as_str() && l["message"] == "request completed")
    );
    let api = ExampleApi::start(&[
        ("APM_PROVIDER", "none"),
        ("METRICS_BACKEND", "none"),
        ("MONITORING_IGNORE_ROUTES", "none"),
    ]);
    let (_, health, _) = get(&api, "/health").await;
    assert_eq!(api.request_line(&health)["http.route"], "/health");
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

#[tokio::test]
async fn unknown_user_is_404_json_and_unknown_route_is_logged_as_unmatched() {
    let api = ExampleApi::start(ENV);
    let (status, id, body) = get(&api, "/users/424242").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "user not found");
    assert_eq!(body["request_id"], id.as_str());
    assert_eq!(api.request_line(&id)["http.status_code"], 404);

    let res = client()
        .get(api.url("/no/such/path/12345"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let line = api.request_line(&id);
    assert_eq!(line["http.route"], "unmatched");
    assert_eq!(line["http.url_details.path"], "/no/such/path/12345");
    assert!(
        !without_path(&api).contains("12345"),
        "raw path of an unmatched route leaked"
    );
}

/// Every log line, without the request line's `http.url_details.path`.
fn without_path(api: &ExampleApi) -> String {
    api.logs()
        .into_iter()
        .map(|mut line| {
            line.as_object_mut()
                .unwrap()
                .remove("http.url_details.path");
            line.to_string()
        })
        .collect()
}

#[tokio::test]
async fn recommendations_call_the_scoring_service_and_then_hit_the_cache() {
    let api = ExampleApi::start(ENV);
    let (status, id, body) = get(&api, "/users/3/recommendations").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["cached"], false);
    let items = body["recommendations"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(items.iter().any(|i| i["item"] == "Crafting Interpreters"));

    // The outgoing call is a request of its own, logged under the same ID.
    let inner = api.wait_for_log(|l| {
        l["http.route"] == "/internal/score" && l["message"] == "request completed"
    });
    assert_eq!(inner["http.method"], "POST");
    assert_eq!(inner["request_id"], id.as_str());
    api.wait_for_log(|l| {
        l["message"] == "recommendations generated" && l["request_id"] == id.as_str()
    });

    let (status, _, body) = get(&api, "/users/3/recommendations").await;
    assert_eq!((status, body["cached"].as_bool()), (200, Some(true)));
    let (status, _, _) = get(&api, "/users/999/recommendations").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn recommendations_answer_502_when_the_scoring_service_is_down() {
    // A port nobody listens on: bind, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/score");
    let env: Vec<(&str, &str)> = ENV
        .iter()
        .copied()
        .chain([("RECOMMENDER_URL", url.as_str())])
        .collect();
    let api = ExampleApi::start(&env);
    let (status, id, body) = get(&api, "/users/1/recommendations").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["request_id"], id.as_str());
    assert!(
        !body["error"].as_str().unwrap().contains(&port.to_string()),
        "no internal URL in the answer: {body}"
    );
}

#[tokio::test]
async fn handler_error_is_500_json_and_logged_at_error() {
    let api = ExampleApi::start(ENV);
    let (status, id, body) = get(&api, "/demo/error").await;
    assert_eq!(status, 500);
    assert_eq!(body["error"], "internal server error");
    assert_eq!(body["request_id"], id.as_str());
    let error = api.wait_for_log(|l| l["level"] == "ERROR" && l["request_id"] == id.as_str());
    assert!(
        error["error.message"]
            .as_str()
            .unwrap()
            .contains("flux capacitor")
    );
    assert_eq!(error["error.kind"], "InternalError", "{error}");
    assert_correlated(&error, &id);
    assert_eq!(api.request_line(&id)["http.status_code"], 500);
}

#[tokio::test]
async fn panic_is_500_json_logged_with_the_request_id_and_the_server_keeps_serving() {
    let api = ExampleApi::start(ENV);
    for _ in 0..3 {
        let (status, id, body) = get(&api, "/demo/panic").await;
        assert_eq!(status, 500);
        assert_eq!(
            body,
            serde_json::json!({"error": "internal server error", "request_id": id})
        );
        let line = api.wait_for_log(|l| l["level"] == "ERROR" && l["request_id"] == id.as_str());
        assert_eq!(line["error.kind"], "panic");
        assert!(
            line["error.message"]
                .as_str()
                .unwrap()
                .contains("demo panic")
        );
        assert!(line["error.location"].as_str().unwrap().contains("demo.rs"));
        assert_eq!(line["http.route"], "/demo/panic");
        assert_eq!(api.request_line(&id)["http.status_code"], 500);
    }
    let (status, _, _) = get(&api, "/health").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully_with_exit_code_0() {
    let mut api = ExampleApi::start(ENV);
    let (status, _, _) = get(&api, "/health").await;
    assert_eq!(status, 200);
    let exit = api.terminate();
    assert!(exit.success(), "{exit:?}");
    assert!(
        api.logs()
            .iter()
            .any(|l| l["message"] == "shut down cleanly")
    );
}

#[tokio::test]
async fn monitoring_disabled_is_a_pass_through() {
    let env: Vec<(&str, &str)> = ENV
        .iter()
        .copied()
        .chain([("MONITORING_ENABLED", "false")])
        .collect();
    let api = ExampleApi::start(&env);
    let res = client().get(api.url("/users/2")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("x-request-id").is_none());
    let res = client()
        .get(api.url("/health"))
        .header("x-request-id", "kept-out")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("x-request-id").is_none());
    // The handler still logs, but no request lines are written.
    api.wait_for_log(|l| l["message"] == "user loaded");
    assert!(
        api.logs()
            .iter()
            .all(|l| l["message"] != "request completed")
    );
    assert!(api.logs().iter().any(|l| {
        l["message"]
            .as_str()
            .unwrap_or("")
            .contains("MONITORING_ENABLED=false")
    }));
}

#[tokio::test]
async fn logs_injection_off_drops_the_dd_fields_but_keeps_the_request_id() {
    let env: Vec<(&str, &str)> = ENV
        .iter()
        .copied()
        .chain([("DD_LOGS_INJECTION", "false")])
        .collect();
    let api = ExampleApi::start(&env);
    let (_, id, _) = get(&api, "/users/1").await;
    let line = api.request_line(&id);
    assert!(
        line.as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("dd.")),
        "{line}"
    );
}

#[tokio::test]
async fn a_streaming_response_is_logged_when_its_last_line_is_sent() {
    let api = ExampleApi::start(ENV);
    let res = client().get(api.url("/demo/stream")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = res.text().await.unwrap();
    assert_eq!(body.lines().count(), 5, "{body}");
    assert_eq!(body.lines().last(), Some("line 5 of 5"));
    let line = api.request_line(&id);
    assert_eq!(line["http.route"], "/demo/stream");
    assert_eq!(line["http.status_code"], 200);
    // Four 200 ms pauses: timed to the last line, not to the head.
    assert!(line["latency_ms"].as_f64().unwrap() >= 750.0, "{line}");
    assert!(line["head_ms"].as_f64().unwrap() < 250.0, "{line}");
}
