//! APM_PROTOCOL=otlp: the same span tree over OTLP/HTTP, read back from the test agent.

use serde_json::Value;
use treebeard_e2e::peers::TestAgent;
use treebeard_e2e::{ExampleApi, client};

fn b64_to_hex(s: &str) -> String {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn otlp_export_gives_the_same_span_tree() {
    let agent = TestAgent::start();
    let endpoint = format!("http://127.0.0.1:{}", agent.otlp_port);
    let api = ExampleApi::start(&[
        ("APM_PROVIDER", "otlp"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("DD_SERVICE", "e2e-otlp"),
        ("METRICS_BACKEND", "none"),
    ]);
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let res = client()
        .get(api.url("/users/1/recommendations"))
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let spans = loop {
        let body: Value = reqwest::get(format!("{endpoint}/test/session/traces"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let spans: Vec<Value> = body
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["resource_spans"].as_array().cloned().unwrap_or_default())
            .flat_map(|rs| rs["scope_spans"].as_array().cloned().unwrap_or_default())
            .flat_map(|ss| ss["spans"].as_array().cloned().unwrap_or_default())
            .filter(|s| b64_to_hex(s["trace_id"].as_str().unwrap_or("")) == trace)
            .collect();
        if spans.len() >= 6 {
            break spans;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "OTLP spans did not arrive: {spans:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    let by_name = |name: &str, kind: &str| -> Value {
        spans
            .iter()
            .find(|s| s["name"] == name && s["kind"] == kind)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} {kind} in {spans:#?}"))
    };
    let server = spans
        .iter()
        .find(|s| {
            s["name"] == "http.request"
                && s["kind"] == "SPAN_KIND_SERVER"
                && b64_to_hex(s["parent_span_id"].as_str().unwrap()) == "00f067aa0ba902b7"
        })
        .expect("root server span continues the traceparent");
    let generate = by_name("recommendation.generate", "SPAN_KIND_INTERNAL");
    let external = by_name("external_api.request", "SPAN_KIND_CLIENT");
    let db = by_name("sqlite.query", "SPAN_KIND_CLIENT");
    let client_span = by_name("http.client.request", "SPAN_KIND_CLIENT");
    assert_eq!(db["parent_span_id"], server["span_id"]);
    assert_eq!(generate["parent_span_id"], server["span_id"]);
    assert_eq!(external["parent_span_id"], generate["span_id"]);
    assert_eq!(client_span["parent_span_id"], external["span_id"]);
    let inner = spans
        .iter()
        .find(|s| s["kind"] == "SPAN_KIND_SERVER" && s["parent_span_id"] == client_span["span_id"])
        .expect("the callee's server span is a child of the client span");
    assert_eq!(inner["name"], "http.request");
}
