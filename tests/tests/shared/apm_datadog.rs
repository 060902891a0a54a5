// The DataDog APM tests, shared by `apm_datadog.rs` (treebeard's own
// spans) and `apm_datadog_otel.rs` (dd-trace-rs): each sets `PROVIDER`.

fn env(agent: &TestAgent, extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("APM_PROVIDER", PROVIDER.to_owned()),
        ("DD_TRACE_AGENT_URL", agent.url()),
        ("DD_SERVICE", "e2e-apm".to_owned()),
        ("DD_ENV", "test".to_owned()),
        ("DD_VERSION", "1.2.3".to_owned()),
        ("METRICS_BACKEND", "none".to_owned()),
        // These tests trace `/health`, the lightest route: not a probe here.
        ("MONITORING_IGNORE_ROUTES", "none".to_owned()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    env
}

fn start(env: &[(&'static str, String)]) -> ExampleApi {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ExampleApi::start(&env)
}

/// Median latency of `n` sequential GETs of `path`: medians shrug off the
/// scheduling hiccups of a loaded machine, a blocking exporter would not.
async fn median_latency(api: &ExampleApi, path: &str, n: usize) -> Duration {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let (status, _) = get(api, path, &[]).await;
        assert_eq!(status, 200);
        times.push(started.elapsed());
    }
    times.sort();
    times[n / 2]
}

/// `slow` is no slower than `fast`, give or take noise.
fn assert_not_slower(slow: Duration, fast: Duration, what: &str) {
    assert!(
        slow <= fast * 3 + Duration::from_millis(20),
        "{what}: median {slow:?} vs {fast:?}"
    );
}

/// GET with extra headers; returns the status and the response's request ID.
async fn get(api: &ExampleApi, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = client().get(api.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    (
        res.status().as_u16(),
        res.headers()["x-request-id"].to_str().unwrap().to_owned(),
    )
}

async fn server_span(agent: &TestAgent, request_id: &str) -> Value {
    let spans = agent
        .wait_for_spans(
            |s| s["meta"]["request_id"] == request_id && s["type"] == "web",
            |s| !s.is_empty(),
        )
        .await;
    spans[0].clone()
}

#[tokio::test]
async fn datadog_headers_continue_the_trace_and_the_span_has_the_documented_shape() {
    let agent = TestAgent::start();
    let api = start(&env(&agent, &[]));
    let headers = [
        ("x-datadog-trace-id", "1234567890123"),
        ("x-datadog-parent-id", "987654321"),
        ("x-datadog-sampling-priority", "1"),
    ];
    let (status, id) = get(&api, "/users/2?email=ada@example.com&page=3", &headers).await;
    assert_eq!(status, 200);
    let span = server_span(&agent, &id).await;
    assert_eq!(span["trace_id"], 1234567890123_u64);
    assert_eq!(span["parent_id"], 987654321_u64);
    assert_eq!(span["name"], "http.server.request");
    assert_eq!(span["resource"], "GET /users/{id}");
    assert_eq!(span["type"], "web");
    assert_eq!(span["service"], "e2e-apm");
    let meta = &span["meta"];
    assert_eq!(meta["env"], "test");
    assert_eq!(meta["version"], "1.2.3");
    assert_eq!(meta["http.method"], "GET");
    assert_eq!(meta["http.route"], "/users/{id}");
    assert_eq!(meta["http.status_code"], "200");
    let url = meta["http.url"].as_str().unwrap();
    // DataDog's query obfuscation keeps plain values, the PII scrubber
    // takes the address.
    assert!(
        url.ends_with("/users/2?email=[EMAIL]&page=3"),
        "query obfuscated and scrubbed: {url}"
    );
    assert!(span.get("error").is_none_or(|e| e == 0), "{span}");

    // The request's log lines carry the same IDs, in decimal.
    let line = api.request_line(&id);
    assert_eq!(line["dd.trace_id"], "1234567890123");
    assert_eq!(
        line["dd.span_id"],
        span["span_id"].as_u64().unwrap().to_string()
    );
    let handler =
        api.wait_for_log(|l| l["message"] == "user loaded" && l["request_id"] == id.as_str());
    assert_eq!(handler["dd.trace_id"], "1234567890123");
}

#[tokio::test]
async fn w3c_traceparent_continues_the_trace() {
    let agent = TestAgent::start();
    let api = start(&env(&agent, &[]));
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let (_, id) = get(
        &api,
        "/health",
        &[
            ("traceparent", traceparent),
            ("tracestate", "dd=s:1,foo=bar"),
        ],
    )
    .await;
    let span = server_span(&agent, &id).await;
    assert_eq!(
        span["trace_id"], 0x8448eb211c80319c_u64,
        "low 64 bits of the W3C trace ID"
    );
    assert_eq!(span["parent_id"], 0xb7ad6b7169203331_u64);
    // DataDog reads the high 64 bits from `_dd.p.tid` (for dd-trace-rs,
    // which writes none, treebeard's glue adds it).
    assert_eq!(
        span["meta"]["_dd.p.tid"], "0af7651916cd43dd",
        "all 128 bits kept: {span:#}"
    );
    assert_eq!(
        api.request_line(&id)["otel.trace_id"],
        "0af7651916cd43dd8448eb211c80319c"
    );
}

#[tokio::test]
async fn b3_single_and_multi_headers_continue_the_trace_when_enabled() {
    let agent = TestAgent::start();
    let api = start(&env(
        &agent,
        &[(
            "DD_TRACE_PROPAGATION_STYLE",
            "b3multi,b3,datadog,tracecontext",
        )],
    ));
    let (_, id) = get(
        &api,
        "/health",
        &[
            ("x-b3-traceid", "463ac35c9f6413ad48485a3953bb6124"),
            ("x-b3-spanid", "0020000000000001"),
            ("x-b3-sampled", "1"),
        ],
    )
    .await;
    let span = server_span(&agent, &id).await;
    assert_eq!(span["trace_id"], 0x48485a3953bb6124_u64);
    assert_eq!(span["parent_id"], 0x0020000000000001_u64);

    let (_, id) = get(
        &api,
        "/health",
        &[("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")],
    )
    .await;
    let span = server_span(&agent, &id).await;
    assert_eq!(span["trace_id"], 0x64fe8b2a57d3eff7_u64);
    assert_eq!(span["parent_id"], 0xe457b5a2e4d86bd1_u64);
}

#[tokio::test]
async fn malformed_or_hostile_headers_start_a_new_trace() {
    let agent = TestAgent::start();
    let api = start(&env(
        &agent,
        &[(
            "DD_TRACE_PROPAGATION_STYLE",
            "datadog,tracecontext,b3,b3multi",
        )],
    ));
    let long = "9".repeat(10_000);
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![("x-datadog-trace-id", "abc"), ("x-datadog-parent-id", "-1")],
        vec![("x-datadog-trace-id", "0"), ("x-datadog-parent-id", "0")],
        vec![("x-datadog-trace-id", &long), ("x-datadog-parent-id", "1")],
        vec![(
            "traceparent",
            "00-zzzz7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )],
        vec![(
            "traceparent",
            "00-00000000000000000000000000000000-0000000000000000-01",
        )],
        vec![(
            "traceparent",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
        )],
        vec![("b3", "not-a-b3-header")],
        vec![("x-b3-traceid", "xyz"), ("x-b3-spanid", "")],
        vec![
            ("x-datadog-tags", &long),
            ("x-datadog-origin", "synthetics\u{7f}"),
        ],
    ];
    for headers in cases {
        let mut req = client().get(api.url("/health"));
        for (k, v) in &headers {
            if let Ok(v) = reqwest::header::HeaderValue::from_str(v) {
                req = req.header(*k, v);
            }
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200, "{headers:?}");
        let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        let span = server_span(&agent, &id).await;
        assert!(span["trace_id"].as_u64().unwrap() != 0);
        assert!(
            span.get("parent_id").is_none_or(|p| p == 0),
            "new root for {headers:?}: {span}"
        );
    }
}

#[tokio::test]
async fn a_flood_of_bad_trace_headers_cannot_flood_the_logs() {
    let agent = TestAgent::start();
    let api = start(&env(&agent, &[]));
    for _ in 0..100 {
        let (status, _) = get(
            &api,
            "/health",
            &[
                ("traceparent", "00-garbage"),
                ("x-datadog-trace-id", "nope"),
            ],
        )
        .await;
        assert_eq!(status, 200);
    }
    let (_, last) = get(&api, "/health", &[]).await;
    api.request_line(&last);
    let exporter_lines = api
        .logs()
        .iter()
        .filter(|l| {
            l["logger.name"]
                .as_str()
                .unwrap_or("")
                .starts_with("datadog_opentelemetry")
        })
        .count();
    // 20 a minute, and the requests may straddle two minutes.
    assert!(
        exporter_lines <= 40,
        "{exporter_lines} exporter lines for 100 bad requests"
    );
}

#[tokio::test]
async fn recommendations_make_one_trace_through_the_outgoing_call() {
    let agent = TestAgent::start();
    let api = start(&env(&agent, &[]));
    let (status, id) = get(&api, "/users/1/recommendations", &[]).await;
    assert_eq!(status, 200);
    let root = server_span(&agent, &id).await;
    let trace_id = root["trace_id"].as_u64().unwrap();
    let spans = agent.wait_for_trace(trace_id, |s| s.len() >= 6).await;

    let root = span(
        &spans,
        "http.server.request",
        "GET /users/{id}/recommendations",
    );
    let db = span(
        &spans,
        "sqlite.query",
        "SELECT id, name, profile_type, interests FROM users WHERE id = ?",
    );
    let generate = span(&spans, "recommendation.generate", "recommendation.generate");
    let external = span(
        &spans,
        "external_api.request",
        "recommender /internal/score",
    );
    let client_span = span(&spans, "http.request", "POST 127.0.0.1");
    let inner = span(&spans, "http.server.request", "POST /internal/score");

    assert!(root.get("parent_id").is_none_or(|p| p == 0));
    assert_eq!(db["parent_id"], root["span_id"]);
    assert_eq!(db["type"], "sql");
    assert_eq!(db["meta"]["db.system"], "sqlite");
    assert_eq!(db["meta"]["db.sql.table"], "users");
    assert_eq!(generate["parent_id"], root["span_id"]);
    assert_eq!(generate["service"], "recommendation-engine");
    assert_eq!(external["parent_id"], generate["span_id"]);
    assert_eq!(external["type"], "http");
    assert_eq!(external["meta"]["peer.service"], "recommender");
    assert_eq!(client_span["parent_id"], external["span_id"]);
    assert_eq!(client_span["type"], "http");
    assert_eq!(client_span["meta"]["span.kind"], "client");
    assert_eq!(client_span["meta"]["http.status_code"], "200");
    assert_eq!(
        inner["parent_id"], client_span["span_id"],
        "the callee continued the trace"
    );
    assert_eq!(
        inner["meta"]["request_id"],
        id.as_str(),
        "and the request ID"
    );
    for s in &spans {
        assert_eq!(s["trace_id"], trace_id);
    }
}

#[tokio::test]
async fn handler_errors_and_panics_are_error_spans_with_their_cause() {
    let agent = TestAgent::start();
    let api = start(&env(&agent, &[]));
    let (status, id) = get(&api, "/demo/error", &[]).await;
    assert_eq!(status, 500);
    let span = server_span(&agent, &id).await;
    assert_eq!(span["error"], 1);
    assert_eq!(span["meta"]["http.status_code"], "500");
    assert_eq!(span["meta"]["error.type"], "InternalError");
    assert!(
        span["meta"]["error.message"]
            .as_str()
            .unwrap()
            .contains("flux capacitor")
    );
    assert_eq!(
        api.request_line(&id)["dd.trace_id"],
        span["trace_id"].as_u64().unwrap().to_string()
    );

    let (status, id) = get(&api, "/demo/panic", &[]).await;
    assert_eq!(status, 500);
    let span = server_span(&agent, &id).await;
    assert_eq!(span["error"], 1);
    assert_eq!(span["meta"]["error.type"], "panic");
    assert!(
        span["meta"]["error.message"]
            .as_str()
            .unwrap()
            .contains("demo panic")
    );
    let panic_line =
        api.wait_for_log(|l| l["error.kind"] == "panic" && l["request_id"] == id.as_str());
    assert_eq!(
        panic_line["dd.trace_id"],
        span["trace_id"].as_u64().unwrap().to_string()
    );

    let (status, id) = get(&api, "/users/999", &[]).await;
    assert_eq!(status, 404);
    let span = server_span(&agent, &id).await;
    assert!(
        span.get("error").is_none_or(|e| e == 0),
        "4xx is not a server error: {span}"
    );
}

#[tokio::test]
async fn a_dead_agent_costs_requests_nothing_and_export_resumes_when_it_returns() {
    let mut agent = TestAgent::start();
    let api = start(&env(&agent, &[]));
    let (_, id) = get(&api, "/health", &[]).await;
    server_span(&agent, &id).await;

    let alive = median_latency(&api, "/users/1", 40).await;
    agent.kill();
    let dead = median_latency(&api, "/users/1", 40).await;
    assert_not_slower(dead, alive, "agent down");

    agent.restart();
    // The exporter retries on its own schedule: keep sending until a new trace lands.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, id) = get(&api, "/health", &[]).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let arrived = agent
            .traces()
            .await
            .into_iter()
            .flatten()
            .any(|s| s["meta"]["request_id"] == id.as_str());
        if arrived {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no trace arrived after the agent came back"
        );
    }
}

#[tokio::test]
async fn sigterm_right_after_a_burst_delivers_every_trace() {
    let agent = TestAgent::start();
    let mut api = start(&env(&agent, &[]));
    let mut ids = Vec::new();
    for i in 0..40 {
        let (status, id) = get(&api, &format!("/users/{}", i % 5 + 1), &[]).await;
        assert_eq!(status, 200);
        ids.push(id);
    }
    assert!(api.terminate().success());
    let traces = agent.traces().await;
    let seen: Vec<&str> = traces
        .iter()
        .flatten()
        .filter_map(|s| s["meta"]["request_id"].as_str())
        .collect();
    let missing: Vec<&String> = ids
        .iter()
        .filter(|id| !seen.contains(&id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} traces lost at shutdown",
        missing.len(),
        ids.len()
    );
}

#[tokio::test]
async fn sampling_rate_zero_drops_traces_but_an_upstream_keep_decision_wins() {
    let agent = TestAgent::start();
    let api = start(&env(&agent, &[("DD_TRACE_SAMPLE_RATE", "0")]));
    let (_, kept) = get(
        &api,
        "/users/1/recommendations",
        &[
            ("x-datadog-trace-id", "555"),
            ("x-datadog-parent-id", "1"),
            ("x-datadog-sampling-priority", "2"),
        ],
    )
    .await;
    let (_, dropped) = get(&api, "/health", &[]).await;
    let spans = agent.wait_for_trace(555, |s| s.len() >= 6).await;
    for s in &spans {
        assert_eq!(
            s["metrics"]["_sampling_priority_v1"], 2.0,
            "decision propagated to {}",
            s["resource"]
        );
    }
    assert!(
        spans
            .iter()
            .any(|s| s["meta"]["request_id"] == kept.as_str())
    );
    // Give the exporter time to send the other one, then check it was not kept.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let traces = agent.traces().await;
    let dropped_spans: Vec<&Value> = traces
        .iter()
        .flatten()
        .filter(|s| s["meta"]["request_id"] == dropped.as_str())
        .collect();
    assert!(
        dropped_spans
            .iter()
            .all(|s| s["metrics"]["_sampling_priority_v1"]
                .as_f64()
                .unwrap_or(0.0)
                <= 0.0),
        "{dropped_spans:#?}"
    );
}

#[tokio::test]
async fn an_agent_that_accepts_but_never_answers_costs_requests_nothing() {
    // A black hole: connections are accepted and then left hanging.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let untraced = ExampleApi::start(&[("APM_PROVIDER", "none"), ("METRICS_BACKEND", "none")]);
    let mut api = ExampleApi::start(&[
        ("APM_PROVIDER", PROVIDER),
        ("DD_TRACE_AGENT_URL", &url),
        ("METRICS_BACKEND", "none"),
    ]);
    let baseline = median_latency(&untraced, "/users/1", 60).await;
    let hanging = median_latency(&api, "/users/1", 60).await;
    assert_not_slower(hanging, baseline, "agent hanging");
    // Shutdown waits for the flush at most DEFAULT_SHUTDOWN_TIMEOUT (5 s), then exits.
    let stopping = Instant::now();
    assert!(api.terminate().success());
    assert!(
        stopping.elapsed() < Duration::from_secs(12),
        "shutdown hung: {:?}",
        stopping.elapsed()
    );
}

#[tokio::test]
async fn an_agent_on_a_unix_socket_gets_the_spans() {
    let agent = TestAgent::start_with_uds();
    let mut env = env(&agent, &[]);
    for (name, value) in &mut env {
        if *name == "DD_TRACE_AGENT_URL" {
            *value = agent.uds_url().unwrap();
        }
    }
    let api = start(&env);
    let (status, id) = get(&api, "/users/1", &[]).await;
    assert_eq!(status, 200);
    let span = server_span(&agent, &id).await;
    assert_eq!(span["resource"], "GET /users/{id}");
}

#[tokio::test]
async fn a_client_chosen_request_id_reaches_the_agent_scrubbed_like_the_log_line() {
    let agent = TestAgent::start();
    let api = start(&env(&agent, &[]));
    let (status, echoed) = get(
        &api,
        "/users/1?probe=pii",
        &[("x-request-id", "rid-owner.probe@example.org")],
    )
    .await;
    assert_eq!(status, 200);
    // The client gets its own ID back; nothing else outside sees the address.
    assert_eq!(echoed, "rid-owner.probe@example.org");
    let spans = agent
        .wait_for_spans(
            |s| {
                s["type"] == "web"
                    && s["meta"]["http.url"]
                        .as_str()
                        .is_some_and(|u| u.ends_with("?probe=pii"))
            },
            |s| !s.is_empty(),
        )
        .await;
    let tagged = spans[0]["meta"]["request_id"].as_str().unwrap().to_owned();
    assert!(!tagged.contains("example.org"), "{tagged}");
    assert!(tagged.contains("[EMAIL]"), "{tagged}");
    let line = api.wait_for_log(|l| l["message"] == "request completed" && l["http.route"] == "/users/{id}");
    assert_eq!(line["request_id"], tagged.as_str(), "the span and the line agree");
}

#[tokio::test]
async fn without_dd_env_spans_and_lines_carry_no_env_rather_than_a_made_up_one() {
    let agent = TestAgent::start();
    let mut env = env(&agent, &[]);
    env.retain(|(k, _)| *k != "DD_ENV");
    let api = start(&env);
    let (status, id) = get(&api, "/users/1", &[]).await;
    assert_eq!(status, 200);
    let span = server_span(&agent, &id).await;
    assert!(span["meta"].get("env").is_none(), "{span:#}");
    assert_eq!(span["meta"]["version"], "1.2.3", "{span:#}");
    let line = api.request_line(&id);
    assert!(line.get("dd.env").is_none(), "{line}");
    assert_eq!(line["dd.service"], "e2e-apm", "{line}");
}


#[tokio::test]
async fn server_spans_carry_the_user_agent_and_with_client_ip_enabled_the_client_address() {
    let agent = TestAgent::start();
    let api = start(&env(&agent, &[("DD_TRACE_CLIENT_IP_ENABLED", "true")]));
    let (_, id) = get(
        &api,
        "/health",
        &[
            ("x-forwarded-for", "10.0.0.1, 8.8.8.8"),
            ("user-agent", "probe/2.0 (ops@example.org)"),
        ],
    )
    .await;
    let span = server_span(&agent, &id).await;
    assert_eq!(span["meta"]["http.client_ip"], "8.8.8.8", "{span:#}");
    assert_eq!(span["meta"]["http.useragent"], "probe/2.0 ([EMAIL])", "{span:#}");
    // Behind no proxy: the peer's address (the example serves with ConnectInfo).
    let (_, id) = get(&api, "/health", &[]).await;
    let span = server_span(&agent, &id).await;
    assert_eq!(span["meta"]["http.client_ip"], "127.0.0.1", "{span:#}");

    // Off by default: no address on the span.
    let agent = TestAgent::start();
    let api = start(&env(&agent, &[]));
    let (_, id) = get(&api, "/health", &[("x-forwarded-for", "8.8.8.8")]).await;
    let span = server_span(&agent, &id).await;
    assert!(span["meta"].get("http.client_ip").is_none(), "{span:#}");
}

#[tokio::test]
async fn header_tags_copy_request_and_response_headers_scrubbed() {
    let agent = TestAgent::start();
    let api = start(&env(
        &agent,
        &[(
            "DD_TRACE_HEADER_TAGS",
            "x-tenant-id, x-request-id,x-plan:tenant.plan content-type",
        )],
    ));
    let (_, id) = get(
        &api,
        "/health",
        &[
            ("x-tenant-id", "owner.tenant@example.org"),
            ("x-request-id", "hdr-tag-1"),
            ("x-plan", "gold"),
        ],
    )
    .await;
    let span = server_span(&agent, &id).await;
    let meta = &span["meta"];
    assert_eq!(meta["http.request.headers.x-tenant-id"], "[EMAIL]", "{span:#}");
    assert_eq!(meta["http.request.headers.x-request-id"], "hdr-tag-1", "{span:#}");
    // A response header (the request ID's echo is added outside the span).
    assert_eq!(
        meta["http.response.headers.content-type"], "application/json",
        "{span:#}"
    );
    assert!(meta.get("http.request.headers.content-type").is_none());
    assert_eq!(meta["tenant.plan"], "gold", "{span:#}");
    assert!(meta.get("http.request.headers.x-plan").is_none(), "{span:#}");
}

#[tokio::test]
async fn probes_get_no_span_by_default() {
    let agent = TestAgent::start();
    let mut env = env(&agent, &[]);
    env.retain(|(k, _)| *k != "MONITORING_IGNORE_ROUTES");
    let api = start(&env);
    let (_, probe) = get(&api, "/health", &[]).await;
    let (_, user) = get(&api, "/users/1", &[]).await;
    // The user's span arrives; the probe's, sent before it, never does.
    server_span(&agent, &user).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let spans: Vec<Value> = agent.traces().await.into_iter().flatten().collect();
    assert!(
        !spans.iter().any(|s| s["meta"]["request_id"] == probe.as_str()),
        "{spans:#?}"
    );
}

#[tokio::test]
async fn a_background_job_is_a_trace_of_its_own() {
    let agent = TestAgent::start();
    let api = start(&env(&agent, &[]));
    // The example seeds its database at start-up in a `background_job`.
    let spans = agent
        .wait_for_spans(|s| s["resource"] == "db.seed", |s| !s.is_empty())
        .await;
    let job = &spans[0];
    assert_eq!(job["type"], "worker", "{job:#}");
    // A root (dd-trace-rs leaves a zero parent out).
    assert_eq!(job["parent_id"].as_u64().unwrap_or(0), 0, "{job:#}");
    let line = api.wait_for_log(|l| l["message"] == "database seeded");
    assert_eq!(line["job"], "db.seed", "{line}");
    assert_eq!(
        line["dd.trace_id"].as_str().unwrap(),
        job["trace_id"].as_u64().unwrap().to_string(),
        "the line is correlated with the job's trace"
    );
}
